/* ChartVault: the dashboard's plots (templates/stats/dashboard.html), drawn with the vendored
 * Chart.js from the data table under each plot, so that a plot shows exactly the figures of
 * its table and CSV. Without this script the page still shows every table.
 * Every column of a table is plotted. Per-day OCR times are lines (gaps where no scan was
 * read) with the number of scans read as bars on a second axis; request turnaround in days is
 * a line on a second axis beside the request counts; every other figure is bars.
 */
(function () {
  "use strict";

  if (typeof Chart === "undefined") {
    return;
  }
  var STYLES = {
    ocr: { type: "line", secondary: "ready" },
    requests: { type: "bar", secondary: "median_turnaround_days" }
  };
  var COLOURS = ["#1f5f8b", "#c0622d", "#3f8f4f", "#7a4f9a"];

  function columnsOf(table) {
    return Array.prototype.map.call(table.querySelectorAll("thead th"), function (cell) {
      return cell.textContent.trim();
    });
  }

  function seriesOf(table, index) {
    return Array.prototype.map.call(table.querySelectorAll("tbody tr"), function (row) {
      var raw = row.children[index].getAttribute("data-value");
      return raw === "" ? null : Number(raw);
    });
  }

  function labelsOf(table) {
    return Array.prototype.map.call(table.querySelectorAll("tbody tr"), function (row) {
      return row.children[0].textContent.trim();
    });
  }

  function styleOf(name) {
    return STYLES[name] || { type: "bar", secondary: null };
  }

  function datasetsOf(name, table) {
    var columns = columnsOf(table);
    var style = styleOf(name);
    return columns.slice(1).map(function (column, n) {
      var secondary = column === style.secondary;
      return {
        label: column.replace(/_/g, " "),
        data: seriesOf(table, n + 1),
        type: secondary ? (style.type === "line" ? "bar" : "line") : style.type,
        yAxisID: secondary ? "y1" : "y",
        backgroundColor: COLOURS[n % COLOURS.length],
        borderColor: COLOURS[n % COLOURS.length],
        spanGaps: false
      };
    });
  }

  function scalesOf(name) {
    var scales = { y: { beginAtZero: true } };
    if (styleOf(name).secondary) {
      scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } };
    }
    return scales;
  }

  function draw(section) {
    var name = section.getAttribute("data-chart");
    var canvas = section.querySelector("[data-chart-canvas]");
    var table = section.querySelector("[data-chart-table]");
    if (!canvas || !table) {
      return;
    }
    new Chart(canvas, {
      type: styleOf(name).type,
      data: { labels: labelsOf(table), datasets: datasetsOf(name, table) },
      // No animation: the plot is complete when the page is, for screenshots and printing.
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 scales: scalesOf(name) }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
}());

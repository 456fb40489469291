/* ChartVault: the dashboard's plots (templates/stats/dashboard.html), drawn with the vendored
 * Chart.js from the data table under each plot, so that a plot shows exactly the figures of
 * its table and CSV. Without this script the page still shows every table.
 * Per-day OCR times are lines (gaps where no scan was read); every other figure is bars.
 */
(function () {
  "use strict";

  if (typeof Chart === "undefined") {
    return;
  }
  var LINES = { ocr: ["median_seconds", "p95_seconds"] };
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

  function datasetsOf(name, table) {
    var columns = columnsOf(table);
    var shown = LINES[name] || columns.slice(1);
    return shown.map(function (column, n) {
      return {
        label: column.replace(/_/g, " "),
        data: seriesOf(table, columns.indexOf(column)),
        backgroundColor: COLOURS[n % COLOURS.length],
        borderColor: COLOURS[n % COLOURS.length],
        spanGaps: false
      };
    });
  }

  function draw(section) {
    var name = section.getAttribute("data-chart");
    var canvas = section.querySelector("[data-chart-canvas]");
    var table = section.querySelector("[data-chart-table]");
    if (!canvas || !table) {
      return;
    }
    new Chart(canvas, {
      type: LINES[name] ? "line" : "bar",
      data: { labels: labelsOf(table), datasets: datasetsOf(name, table) },
      // No animation: the plot is complete when the page is, for screenshots and printing.
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 scales: { y: { beginAtZero: true } } }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
}());

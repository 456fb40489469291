/* ChartVault: drawing redaction boxes in the packet builder (templates/release/packet_builder.html).
 *
 * Without this script the builder still works with typed boxes (sent with the form) and the
 * term search's proposals (checkboxes). With it:
 *  - dragging on a page image draws a box; releasing the mouse adds it to the list of
 *    redactions as a hidden field "document:page:x0,y0,x1,y1" (fractions of the page image);
 *  - "Add box" adds the typed box the same way, and clears the typed fields (so the form does
 *    not send it a second time);
 *  - "Remove" takes a box off the list and off its page;
 *  - ticking a proposal of the term search shows it on its page as a box to black out.
 * Everything shown comes from textContent; nothing is parsed as HTML.
 */
(function () {
  "use strict";

  var form = document.querySelector(".packet-builder");
  if (!form) {
    return;
  }
  var SVG = "http://www.w3.org/2000/svg";
  var MIN_SIZE = 0.003; // a click without a drag draws nothing
  var list = document.getElementById("redaction-list");
  var count = document.getElementById("redaction-count");

  function clamp(value) {
    return Math.min(1, Math.max(0, value));
  }

  function rounded(value) {
    return Math.round(value * 1e6) / 1e6;
  }

  function percent(value) {
    return (value * 100).toFixed(1);
  }

  function pageFigure(documentId, page) {
    return form.querySelector(
      '.redact-page[data-document="' + documentId + '"][data-page="' + page + '"]'
    );
  }

  function placeRect(rect, svg, box) {
    var width = parseFloat(svg.getAttribute("data-width"));
    var height = parseFloat(svg.getAttribute("data-height"));
    rect.setAttribute("x", box[0] * width);
    rect.setAttribute("y", box[1] * height);
    rect.setAttribute("width", (box[2] - box[0]) * width);
    rect.setAttribute("height", (box[3] - box[1]) * height);
  }

  function drawRect(documentId, page, box, value, className) {
    var figure = pageFigure(documentId, page);
    if (!figure) {
      return;
    }
    var svg = figure.querySelector("svg");
    var rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("class", className);
    rect.setAttribute("data-value", value);
    placeRect(rect, svg, box);
    svg.appendChild(rect);
  }

  function updateCount() {
    var boxes = list.querySelectorAll("li").length;
    count.textContent = boxes + (boxes === 1 ? " box." : " boxes.");
  }

  function addBox(documentId, page, box) {
    var value = documentId + ":" + page + ":" + box.map(rounded).join(",");
    var item = document.createElement("li");
    item.setAttribute("data-value", value);
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "box";
    field.value = value;
    var words = document.createElement("span");
    words.textContent =
      "Document " + documentId + ", page " + page + ": " + percent(box[0]) + "–" +
      percent(box[2]) + "% across, " + percent(box[1]) + "–" + percent(box[3]) + "% down";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button--small";
    remove.setAttribute("data-remove-box", "");
    remove.textContent = "Remove";
    var which = document.createElement("span");
    which.className = "visually-hidden";
    which.textContent = " the box on document " + documentId + ", page " + page;
    remove.appendChild(which);
    item.appendChild(field);
    item.appendChild(words);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(remove);
    list.appendChild(item);
    drawRect(documentId, page, box, value, "redact-box");
    updateCount();
  }

  function removeBox(item) {
    var value = item.getAttribute("data-value");
    form.querySelectorAll("rect.redact-box").forEach(function (rect) {
      if (rect.getAttribute("data-value") === value) {
        rect.remove();
      }
    });
    item.remove();
    updateCount();
  }

  /* Drawing: fractions of the image from the pointer's place in the SVG's box on screen. */
  function fractionAt(svg, event) {
    var bounds = svg.getBoundingClientRect();
    return [
      clamp((event.clientX - bounds.left) / bounds.width),
      clamp((event.clientY - bounds.top) / bounds.height),
    ];
  }

  function startDrawing(figure, event) {
    var svg = figure.querySelector("svg");
    var start = fractionAt(svg, event);
    var rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("class", "redact-box redact-box--drawing");
    svg.appendChild(rect);
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();

    function boxTo(moveEvent) {
      var end = fractionAt(svg, moveEvent);
      return [Math.min(start[0], end[0]), Math.min(start[1], end[1]),
        Math.max(start[0], end[0]), Math.max(start[1], end[1])];
    }
    function move(moveEvent) {
      placeRect(rect, svg, boxTo(moveEvent));
    }
    function finish(upEvent) {
      svg.removeEventListener("pointermove", move);
      svg.removeEventListener("pointerup", finish);
      svg.removeEventListener("pointercancel", finish);
      rect.remove();
      var box = boxTo(upEvent);
      if (upEvent.type === "pointerup" && box[2] - box[0] > MIN_SIZE && box[3] - box[1] > MIN_SIZE) {
        addBox(figure.getAttribute("data-document"), figure.getAttribute("data-page"), box);
      }
    }
    svg.addEventListener("pointermove", move);
    svg.addEventListener("pointerup", finish);
    svg.addEventListener("pointercancel", finish);
  }

  form.querySelectorAll(".redact-page").forEach(function (figure) {
    figure.querySelector("svg").addEventListener("pointerdown", function (event) {
      if (event.button === 0) {
        startDrawing(figure, event);
      }
    });
  });

  /* Typing: per cent of the page, checked here so the clerk hears at once what is wrong. */
  var typedFields = ["left", "top", "right", "bottom"].map(function (edge) {
    return document.getElementById("typed-" + edge);
  });
  var typedAdd = document.getElementById("typed-add");
  if (typedAdd) {
    typedAdd.addEventListener("click", function () {
      var box = typedFields.map(function (field) {
        return parseFloat(field.value) / 100;
      });
      var valid = box.every(function (value) {
        return value >= 0 && value <= 1;
      });
      if (!valid || box[0] >= box[2] || box[1] >= box[3]) {
        count.textContent =
          "The typed box was not added: give left < right and top < bottom, each 0 to 100.";
        return;
      }
      var page = parseInt(document.getElementById("typed-page").value, 10);
      if (!(page >= 1)) {
        count.textContent = "The typed box was not added: give a page number, 1 or more.";
        return;
      }
      addBox(document.getElementById("typed-document").value, page, box);
      typedFields.forEach(function (field) {
        field.value = "";
      });
    });
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-box]");
    if (button) {
      removeBox(button.closest("li"));
    }
  });

  /* Proposals of the term search: a ticked one shows as a box to black out. */
  form.querySelectorAll("input[data-proposal]").forEach(function (box) {
    box.addEventListener("change", function () {
      form.querySelectorAll("rect.proposal-box").forEach(function (rect) {
        if (rect.getAttribute("data-value") === box.value) {
          rect.classList.toggle("proposal-box--accepted", box.checked);
        }
      });
    });
  });
})();

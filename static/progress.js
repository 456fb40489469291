/* ChartVault: live OCR progress, and the document-type "Other" box of the ingestion forms.
 *
 * A panel marked `data-progress` (the document page) polls its `data-status-url` every second
 * while the document is queued or processing, and rewrites its badge, sentence and progress
 * bar. The sentences match templates/ingest/_macros.html. upload.js reuses `poll` and
 * `describe` through window.ChartVault.progress for each uploaded file.
 *
 * Forms with a `data-type-select` show their "Other document type" box only when "Other" is
 * chosen; without JavaScript the box is simply always there.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var FINAL = { ready: true, failed: true };

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  /* The sentence for a status.json answer. */
  function describe(s) {
    switch (s.status) {
      case "queued":
        return "Waiting for OCR to start.";
      case "processing":
        return s.pages_total
          ? "OCR " + s.pages_done + " of " + s.pages_total + " pages"
          : "OCR starting…";
      case "ready":
        return s.pages_total ? plural(s.pages_total, "page") + " read." : "Finished.";
      case "failed":
        return s.error || "Processing stopped with an error.";
      default:
        return String(s.status || "");
    }
  }

  function label(status) {
    return status ? status.charAt(0).toUpperCase() + status.slice(1) : "";
  }

  /* Poll `url` until the document is ready or failed. `onUpdate(status)` gets every answer;
   * `onTrouble(message)` is told when answers stop coming (it keeps trying, more slowly,
   * unless the session has ended). Returns a function that stops the polling. */
  function poll(url, onUpdate, onTrouble) {
    var stopped = false;
    var failures = 0;
    var timer = null;

    function again(delay) {
      if (!stopped) {
        timer = window.setTimeout(tick, delay);
      }
    }

    function tick() {
      window
        .fetch(url, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.redirected || type.indexOf("application/json") === -1) {
            stopped = true; // sent to the login page: the session has ended
            if (onTrouble) {
              onTrouble("Your session has ended; log in again to see the progress.");
            }
            return null;
          }
          return response.json().then(function (body) {
            if (!response.ok) {
              throw new Error((body && body.error && body.error.message) || "HTTP " + response.status);
            }
            return body;
          });
        })
        .then(function (body) {
          if (body === null || stopped) {
            return;
          }
          failures = 0;
          onUpdate(body);
          if (FINAL[body.status]) {
            stopped = true;
          } else {
            again(POLL_MS);
          }
        })
        .catch(function () {
          failures += 1;
          if (onTrouble && failures === 3) {
            onTrouble("Progress is not coming through; still trying.");
          }
          again(Math.min(POLL_MS * Math.pow(2, failures), 15000));
        });
    }

    tick();
    return function stop() {
      stopped = true;
      if (timer !== null) {
        window.clearTimeout(timer);
      }
    };
  }

  window.ChartVault = window.ChartVault || {};
  window.ChartVault.progress = { poll: poll, describe: describe, label: label };

  /* ---- The document page's processing panel ------------------------------------------- */

  function initPanel(panel) {
    var badge = panel.querySelector("[data-progress-badge]");
    var text = panel.querySelector("[data-progress-text]");
    var bar = panel.querySelector("[data-progress-bar]");
    var retry = panel.querySelector("[data-progress-retry]");
    var reload = panel.querySelector("[data-progress-reload]");
    var status = panel.getAttribute("data-status");
    if (FINAL[status] || !panel.getAttribute("data-status-url")) {
      return;
    }

    function show(s) {
      panel.setAttribute("data-status", s.status);
      if (badge) {
        badge.className = "status status--" + s.status;
        badge.textContent = label(s.status);
      }
      var sentence = describe(s);
      if (text && text.textContent !== sentence) {
        text.textContent = sentence;
      }
      if (bar) {
        bar.hidden = s.status === "failed";
        if (s.status === "ready") {
          bar.max = 1;
          bar.value = 1;
        } else if (s.pages_total) {
          bar.max = s.pages_total;
          bar.value = s.pages_done;
        } else if (s.status === "queued") {
          bar.value = 0;
        } else {
          bar.removeAttribute("value"); // started, page count not known yet
        }
        bar.textContent = sentence;
      }
      if (retry) {
        retry.hidden = s.status !== "failed";
      }
      if (reload && s.status === "ready") {
        reload.hidden = false;
      }
    }

    poll(panel.getAttribute("data-status-url"), show, function (message) {
      if (text) {
        text.textContent = message;
      }
    });
  }

  /* ---- "Other" document type ------------------------------------------------------------ */

  function initTypeSelect(select) {
    var container = select.form ? select.form.querySelector("[data-type-other]") : null;
    if (!container) {
      return;
    }
    var input = container.querySelector("input");
    function sync() {
      // Also shown when a type was typed without choosing "Other" (the no-script reading).
      var typed = select.value === "" && input && input.value.trim() !== "";
      container.hidden = !(select.value === "other" || typed);
    }
    select.addEventListener("change", function () {
      sync();
      if (!container.hidden && input) {
        input.focus();
      }
    });
    sync();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-progress]"), initPanel);
  Array.prototype.forEach.call(document.querySelectorAll("[data-type-select]"), initTypeSelect);
})();

/* ChartVault: the upload page, with JavaScript.
 *
 * Without this script the form posts every file at once and the server answers with a results
 * page. With it:
 *  - the MRN is confirmed live with the patient's name and date of birth (summary.json);
 *  - files are collected from the file picker and from drag-and-drop into a list;
 *  - on submit the files are posted one by one (Accept: application/json), and each row then
 *    follows its document through OCR by polling status.json until it is ready or failed.
 * Everything the page shows comes from textContent (file names are never parsed as HTML).
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-upload-form]");
  if (!form || !window.fetch || !window.FormData) {
    return;
  }
  var progress = window.ChartVault && window.ChartVault.progress;

  var mrnInput = form.querySelector("[data-mrn-input]");
  var confirmBox = form.querySelector("[data-patient-confirm]");
  var fileInput = form.querySelector("[data-file-input]");
  var dropzone = form.querySelector("[data-dropzone]");
  var dropHint = form.querySelector("[data-drop-hint]");
  var queue = form.querySelector("[data-queue]");
  var list = form.querySelector("[data-file-list]");
  var summary = form.querySelector("[data-queue-summary]");
  var button = form.querySelector("[data-upload-button]");
  var summaryUrl = form.getAttribute("data-summary-url") || "";
  var maxBytes = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = tokenMeta ? tokenMeta.getAttribute("content") : "";
  var MRN_PATTERN = /^[A-Za-z0-9-]{1,32}$/;

  var rows = [];
  var sending = false;

  /* ---- small DOM helpers ------------------------------------------------------------ */

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function humanSize(bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    var units = ["KiB", "MiB", "GiB"];
    var value = bytes;
    var unit = -1;
    do {
      value /= 1024;
      unit += 1;
    } while (value >= 1024 && unit < units.length - 1);
    return value.toFixed(value < 10 ? 1 : 0) + " " + units[unit];
  }

  /* ---- field errors (the same markup the server renders) ----------------------------- */

  function fieldError(input, message) {
    var id = input.id + "-error";
    var existing = document.getElementById(id);
    if (existing) {
      existing.parentNode.removeChild(existing);
    }
    var described = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter(function (part) {
        return part && part !== id;
      });
    if (!message) {
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", described.join(" "));
      return;
    }
    var note = el("p", "field__error");
    note.id = id;
    note.appendChild(el("span", "visually-hidden", "Error: "));
    note.appendChild(document.createTextNode(message));
    input.parentNode.insertBefore(note, input);
    input.setAttribute("aria-invalid", "true");
    described.push(id);
    input.setAttribute("aria-describedby", described.join(" "));
  }

  function fieldNamed(name) {
    var byName = { doc_type: "doc_type", doc_type_other: "doc_type_other" };
    return form.elements[byName[name] || name] || fileInput;
  }

  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid='true']"), function (input) {
      fieldError(input, "");
    });
    var summaryBox = document.querySelector("[data-error-summary]");
    if (summaryBox) {
      summaryBox.parentNode.removeChild(summaryBox);
    }
  }

  /* ---- live confirmation of the patient --------------------------------------------- */

  var lookupTimer = null;
  var lookedUp = "";

  function showPatient(kind, main, detail) {
    confirmBox.textContent = "";
    confirmBox.className = "patient-confirm patient-confirm--" + kind;
    if (kind === "empty") {
      return;
    }
    var card = el("p", "patient-confirm__card");
    card.appendChild(el("span", "patient-confirm__icon", kind === "ok" ? "✓" : kind === "error" ? "!" : "…"));
    var body = el("span", "patient-confirm__body");
    body.appendChild(el("strong", "patient-confirm__name", main));
    if (detail) {
      body.appendChild(el("span", "patient-confirm__detail", detail));
    }
    card.appendChild(body);
    confirmBox.appendChild(card);
  }

  function lookUp() {
    var mrn = mrnInput.value.trim();
    if (mrn === lookedUp) {
      return;
    }
    lookedUp = mrn;
    if (!mrn) {
      showPatient("empty");
      return;
    }
    if (!MRN_PATTERN.test(mrn)) {
      showPatient("error", "Not an MRN", "An MRN is letters, digits and dashes, e.g. MRN-1001.");
      return;
    }
    showPatient("pending", "Looking up " + mrn + "…");
    window
      .fetch(summaryUrl.replace("__MRN__", encodeURIComponent(mrn)), {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          throw new Error("session");
        }
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (answer) {
        if (mrnInput.value.trim() !== mrn) {
          return; // the clerk has typed on since
        }
        if (answer.ok) {
          var shown = /^MRN/i.test(answer.body.mrn) ? answer.body.mrn : "MRN " + answer.body.mrn;
          showPatient("ok", answer.body.name, "Born " + answer.body.dob + " · " + shown);
          fieldError(mrnInput, "");
        } else {
          showPatient("error", "No patient with MRN " + mrn, "Check the number on the chart, or register the patient first.");
        }
      })
      .catch(function () {
        if (mrnInput.value.trim() === mrn) {
          lookedUp = "";
          showPatient("error", "Could not look the MRN up", "Check the connection; the MRN is still checked when you upload.");
        }
      });
  }

  function scheduleLookUp() {
    window.clearTimeout(lookupTimer);
    lookupTimer = window.setTimeout(lookUp, 400);
  }

  /* ---- the list of files ------------------------------------------------------------ */

  var STATE_LABELS = {
    pending: "Ready to upload",
    uploading: "Uploading",
    queued: "Queued",
    processing: "Processing",
    ready: "Ready",
    failed: "Failed",
    refused: "Refused",
    duplicate: "Duplicate",
    unsent: "Not sent",
  };

  function setState(row, state, message) {
    row.state = state;
    row.node.setAttribute("data-state", state);
    row.badge.className = "status status--" + state;
    row.badge.textContent = STATE_LABELS[state] || state;
    if (message !== undefined && row.text.textContent !== message) {
      row.text.textContent = message;
    }
    row.remove.hidden = !(state === "pending" || state === "unsent");
    row.bar.hidden = !(state === "uploading" || state === "queued" || state === "processing");
    updateSummary();
  }

  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      var duplicate = rows.some(function (row) {
        return row.state === "pending" && row.file.name === file.name && row.file.size === file.size;
      });
      if (duplicate) {
        return;
      }
      var node = el("li", "file-row");
      var main = el("div", "file-row__main");
      main.appendChild(el("span", "file-row__name", file.name));
      main.appendChild(el("span", "file-row__size", humanSize(file.size)));
      var state = el("div", "file-row__state");
      var badge = el("span", "status");
      var text = el("span", "file-row__text");
      text.setAttribute("aria-live", "polite");
      state.appendChild(badge);
      state.appendChild(text);
      var bar = el("progress", "progress-bar file-row__bar");
      bar.hidden = true;
      var link = el("a", "file-row__link");
      link.hidden = true;
      var remove = el("button", "button button--small button--link file-row__remove", "Remove");
      remove.type = "button";
      remove.appendChild(el("span", "visually-hidden", " " + file.name));
      node.appendChild(main);
      node.appendChild(state);
      node.appendChild(bar);
      node.appendChild(link);
      node.appendChild(remove);
      list.appendChild(node);
      var row = { file: file, node: node, badge: badge, text: text, bar: bar, link: link, remove: remove };
      remove.addEventListener("click", function () {
        rows = rows.filter(function (other) {
          return other !== row;
        });
        list.removeChild(node);
        updateSummary();
        fileInput.focus();
      });
      rows.push(row);
      setState(row, "pending", "");
    });
    fieldError(fileInput, "");
    updateSummary();
  }

  function count(state) {
    return rows.filter(function (row) {
      return row.state === state;
    }).length;
  }

  function updateSummary() {
    queue.hidden = rows.length === 0;
    var parts = [];
    [
      ["pending", "to upload"],
      ["uploading", "uploading"],
      ["queued", "queued"],
      ["processing", "in OCR"],
      ["ready", "ready"],
      ["duplicate", "already filed"],
      ["failed", "failed"],
      ["refused", "refused"],
      ["unsent", "not sent"],
    ].forEach(function (pair) {
      var n = count(pair[0]);
      if (n) {
        parts.push(n + " " + pair[1]);
      }
    });
    var sentence = rows.length + (rows.length === 1 ? " file" : " files") + (parts.length ? ": " + parts.join(", ") + "." : ".");
    if (summary.textContent !== sentence) {
      summary.textContent = sentence;
    }
    button.disabled = sending;
    button.textContent = sending ? "Uploading…" : "Upload and file";
  }

  /* ---- sending ---------------------------------------------------------------------- */

  function linkTo(row, url, words) {
    row.link.href = url;
    row.link.textContent = words;
    row.link.hidden = false;
  }

  function follow(row, body) {
    linkTo(row, body.url, "Open document #" + body.id);
    row.bar.max = 1;
    row.bar.value = 0;
    setState(row, "queued", progress ? progress.describe({ status: "queued" }) : "");
    if (!progress) {
      return;
    }
    progress.poll(
      body.status_url,
      function (s) {
        var state = s.status === "queued" || s.status === "processing" || s.status === "ready" || s.status === "failed" ? s.status : "processing";
        if (s.pages_total && (state === "processing" || state === "ready")) {
          row.bar.max = s.pages_total;
          row.bar.value = state === "ready" ? s.pages_total : s.pages_done;
        } else if (state === "queued") {
          row.bar.value = 0;
        } else {
          row.bar.removeAttribute("value"); // started, page count not known yet
        }
        setState(row, state, progress.describe(s));
      },
      function (message) {
        row.text.textContent = message;
      }
    );
  }

  function sendOne(row) {
    var data = new FormData(form);
    data.delete("files");
    data.append("files", row.file, row.file.name);
    setState(row, "uploading", "Sending " + humanSize(row.file.size) + "…");
    row.bar.removeAttribute("value"); // indeterminate while the bytes go up
    return window
      .fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") !== -1) {
          return response.json();
        }
        if (response.redirected) {
          return { stop: "Your session has ended. Log in again, then upload the files not sent." };
        }
        if (response.status === 413) {
          return { status: "refused", error: { message: "The file is larger than the archive accepts (" + humanSize(maxBytes) + ")." } };
        }
        if (response.status === 400) {
          return { stop: "This page has expired. Reload it and upload the files not sent again." };
        }
        return { unsent: "The archive could not file it (error " + response.status + "). Upload again." };
      })
      .catch(function () {
        return { unsent: "The archive could not be reached. Check the connection and upload again." };
      })
      .then(function (body) {
        if (body.stop) {
          setState(row, "unsent", body.stop);
          return false;
        }
        if (body.unsent) {
          setState(row, "unsent", body.unsent);
          return true;
        }
        if (body.error && body.error.field) {
          // A problem of the whole batch (patient, type, date): fix it once at its field.
          setState(row, "pending", "");
          var input = fieldNamed(body.error.field);
          fieldError(input, body.error.message);
          input.focus();
          return false;
        }
        if (body.status === "refused") {
          setState(row, "refused", (body.error && body.error.message) || "The file was refused.");
        } else if (body.status === "duplicate") {
          linkTo(row, body.url, "Duplicate of document #" + body.duplicate_of);
          setState(row, "duplicate", "The same file is already filed for this patient; nothing new was stored.");
        } else {
          follow(row, body);
        }
        return true;
      });
  }

  function sendAll(batch) {
    if (!batch.length) {
      sending = false;
      updateSummary();
      return;
    }
    sendOne(batch[0]).then(function (goOn) {
      if (goOn) {
        sendAll(batch.slice(1));
      } else {
        sending = false;
        updateSummary();
      }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) {
      return;
    }
    clearErrors();
    if (fileInput.files && fileInput.files.length) {
      addFiles(fileInput.files); // chosen without a change event (some browsers, autofill)
      fileInput.value = "";
    }
    var batch = rows.filter(function (row) {
      return row.state === "pending" || row.state === "unsent";
    });
    if (!mrnInput.value.trim()) {
      fieldError(mrnInput, "Enter the patient's MRN, e.g. MRN-1001.");
      mrnInput.focus();
      return;
    }
    if (!batch.length) {
      fieldError(fileInput, "Choose at least one scanned file to upload.");
      fileInput.focus();
      return;
    }
    batch.forEach(function (row) {
      if (maxBytes && row.file.size > maxBytes) {
        setState(row, "refused", "The file is larger than the archive accepts (" + humanSize(maxBytes) + ").");
      }
    });
    sending = true;
    updateSummary();
    sendAll(
      batch.filter(function (row) {
        return row.state !== "refused";
      })
    );
  });

  /* ---- picking and dropping files --------------------------------------------------- */

  fileInput.addEventListener("change", function () {
    addFiles(fileInput.files);
    fileInput.value = ""; // the list holds them now; the same file can be chosen again
  });

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return Boolean(types) && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  var depth = 0;
  dropzone.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) {
      return;
    }
    event.preventDefault();
    depth += 1;
    dropzone.classList.add("is-dragging");
    dropHint.hidden = false;
  });
  dropzone.addEventListener("dragover", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  dropzone.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) {
      dropzone.classList.remove("is-dragging");
      dropHint.hidden = true;
    }
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    dropzone.classList.remove("is-dragging");
    dropHint.hidden = true;
    if (event.dataTransfer && event.dataTransfer.files.length) {
      addFiles(event.dataTransfer.files);
    }
  });
  // A file dropped beside the box must not replace the page (and the batch) with the file.
  window.addEventListener("dragover", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
    }
  });
  window.addEventListener("drop", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
    }
  });

  var errorSummary = document.querySelector("[data-error-summary]");
  if (errorSummary) {
    errorSummary.focus(); // the server refused the form: say why first
  }
  dropzone.classList.add("dropzone--enhanced");
  mrnInput.addEventListener("input", scheduleLookUp);
  mrnInput.addEventListener("change", lookUp);
  if (mrnInput.value.trim()) {
    lookUp();
  }
  updateSummary();
})();

/* ChartVault: idle-timeout warning.
 *
 * The server ends a session after `data-idle-timeout` seconds without a request. A minute
 * before that, this shows a warning dialog whose "Stay logged in" button renews the session
 * (POST /session/keepalive). When the time is up, the page is left for the server, which
 * answers with the login page, so no patient data stays on an unattended screen.
 *
 * Only requests renew the session, so only page loads and keep-alives count as activity
 * here. Tabs share their last activity through localStorage: working in one tab keeps the
 * others from warning or leaving while the session is still alive.
 */
(function () {
  "use strict";

  var body = document.body;
  var timeoutSeconds = parseInt(body.getAttribute("data-idle-timeout") || "", 10);
  if (!(timeoutSeconds > 0)) {
    return; // not logged in: no timer
  }

  var STORAGE_KEY = "chartvault.lastActivity";
  var TIMEOUT_MS = timeoutSeconds * 1000;
  // Warn 60 s ahead, or halfway through for (test) timeouts shorter than two minutes.
  var WARN_MS = Math.min(60000, TIMEOUT_MS / 2);
  // Leave a second after the deadline, so the server has certainly expired the session.
  var GRACE_MS = 1000;

  var keepaliveUrl = body.getAttribute("data-keepalive-url") || "/session/keepalive";
  var expiredUrl = body.getAttribute("data-expired-url") || "/";
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = tokenMeta ? tokenMeta.getAttribute("content") : "";

  var dialog = document.getElementById("idle-warning");
  var stayButton = dialog ? dialog.querySelector("[data-idle-stay]") : null;
  var countdown = dialog ? dialog.querySelector("[data-idle-countdown]") : null;
  var errorText = dialog ? dialog.querySelector("[data-idle-error]") : null;

  var lastActivity = Date.now();
  var returnFocusTo = null;
  var leaving = false;
  var renewing = false;

  function sharedActivity() {
    try {
      return parseInt(window.localStorage.getItem(STORAGE_KEY) || "0", 10) || 0;
    } catch (err) {
      return 0; // storage disabled: this tab's own timer still works
    }
  }

  function markActivity(moment) {
    lastActivity = moment;
    try {
      if (moment > sharedActivity()) {
        window.localStorage.setItem(STORAGE_KEY, String(moment));
      }
    } catch (err) {
      /* storage disabled */
    }
  }

  function remainingMs() {
    return Math.max(lastActivity, sharedActivity()) + TIMEOUT_MS - Date.now();
  }

  function isOpen() {
    return Boolean(dialog && dialog.hasAttribute("open"));
  }

  function openWarning() {
    if (!dialog || isOpen()) {
      return;
    }
    returnFocusTo = document.activeElement;
    if (errorText) {
      errorText.hidden = true;
    }
    if (typeof dialog.showModal === "function") {
      dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
    if (stayButton) {
      stayButton.focus();
    }
  }

  function closeWarning() {
    if (!isOpen()) {
      return;
    }
    if (typeof dialog.close === "function") {
      dialog.close();
    } else {
      dialog.removeAttribute("open");
    }
    if (returnFocusTo && typeof returnFocusTo.focus === "function" && document.contains(returnFocusTo)) {
      returnFocusTo.focus();
    }
    returnFocusTo = null;
  }

  function leave() {
    if (leaving) {
      return;
    }
    leaving = true;
    window.location.assign(expiredUrl);
  }

  function tick() {
    if (leaving) {
      return;
    }
    var remaining = remainingMs();
    if (remaining <= -GRACE_MS) {
      leave();
    } else if (remaining <= WARN_MS) {
      if (countdown) {
        countdown.textContent = String(Math.max(0, Math.ceil(remaining / 1000)));
      }
      openWarning();
    } else {
      closeWarning();
    }
  }

  function showError() {
    if (errorText) {
      errorText.hidden = false;
    }
  }

  function stayLoggedIn() {
    if (renewing) {
      return;
    }
    renewing = true;
    if (stayButton) {
      stayButton.disabled = true;
    }
    window
      .fetch(keepaliveUrl, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || type.indexOf("application/json") === -1) {
          // Sent to the login page: the session is already gone.
          leave();
          return null;
        }
        if (!response.ok) {
          throw new Error("keep-alive answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data === null) {
          return;
        }
        if (!data || data.ok !== true) {
          throw new Error("keep-alive refused");
        }
        markActivity(Date.now());
        closeWarning();
      })
      .catch(showError)
      .then(function () {
        renewing = false;
        if (stayButton) {
          stayButton.disabled = false;
        }
      });
  }

  if (stayButton) {
    stayButton.addEventListener("click", stayLoggedIn);
  }
  if (dialog) {
    // Escape shows the user is there: treat it like "Stay logged in".
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      stayLoggedIn();
    });
  }
  window.addEventListener("storage", function (event) {
    if (event.key === STORAGE_KEY) {
      tick();
    }
  });

  markActivity(Date.now());
  window.setInterval(tick, 1000);
  tick();
})();

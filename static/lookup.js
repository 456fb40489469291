/* ChartVault: the patient lookup that answers as you type.
 *
 * An input with `data-lookup-url` asks that URL (`?q=`) for patients whose MRN or name starts
 * with what was typed, a quarter of a second after the last key, and lists them as links
 * below the input (`data-lookup-list` names the list's id). The list is announced through a
 * live region; Tab or the arrow keys reach the links. Without JavaScript the form still
 * opens a patient by exact MRN.
 */
(function () {
  "use strict";

  var WAIT_MS = 250;
  var MIN_CHARACTERS = 2;

  function describe(patient) {
    var text = patient.name + " · " + patient.mrn + " · born " + patient.dob;
    return patient.restricted ? text + " · restricted record" : text;
  }

  function show(list, status, patients) {
    list.textContent = "";
    patients.forEach(function (patient) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = patient.url;
      link.textContent = describe(patient); // text, never HTML
      item.appendChild(link);
      list.appendChild(item);
    });
    list.hidden = patients.length === 0;
    status.textContent = patients.length
      ? patients.length + (patients.length === 1 ? " patient matches." : " patients match.")
      : "No patient matches.";
  }

  function attach(input) {
    var list = document.getElementById(input.dataset.lookupList);
    var status = document.getElementById(input.dataset.lookupStatus);
    var timer = null;
    var asked = 0;

    function ask() {
      var text = input.value.trim();
      if (text.length < MIN_CHARACTERS) {
        list.hidden = true;
        status.textContent = "";
        return;
      }
      var mine = ++asked;
      fetch(input.dataset.lookupUrl + "?q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : { patients: [] };
        })
        .then(function (body) {
          if (mine === asked) show(list, status, body.patients); // only the latest answer
        })
        .catch(function () {
          status.textContent = "The lookup is not answering; type the whole MRN instead.";
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, WAIT_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && !list.hidden && list.firstChild) {
        event.preventDefault();
        list.querySelector("a").focus();
      }
    });
    list.addEventListener("keydown", function (event) {
      var item = document.activeElement.parentElement;
      if (event.key === "ArrowDown" && item.nextElementSibling) {
        event.preventDefault();
        item.nextElementSibling.querySelector("a").focus();
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        (item.previousElementSibling ? item.previousElementSibling.querySelector("a") : input).focus();
      }
    });
  }

  document.querySelectorAll("input[data-lookup-url]").forEach(attach);
})();

/* Relais — small progressive enhancements. No framework, no inline handlers;
   every page works without this file. */
(function () {
  "use strict";

  /* ---------- Keyboard shortcuts ----------
     Links marked data-shortcut="n" | "/" | "t" (see base.html) are followed when
     their key is pressed outside a form field. "/" first focuses the search form
     of the current page (a form marked data-search-form), if there is one. */

  var SHORTCUT_KEYS = { n: true, "/": true, t: true };

  function isEditable(element) {
    if (!element || element === document.body) {
      return false;
    }
    if (element.isContentEditable) {
      return true;
    }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function focusSearchField() {
    var field = document.querySelector(
      "form[data-search-form] input:not([type=hidden]):not([disabled])"
    );
    if (!field) {
      return false;
    }
    field.focus();
    if (typeof field.select === "function") {
      try {
        field.select();
      } catch (error) {
        /* date inputs do not support select() */
      }
    }
    return true;
  }

  function shortcutLink(key) {
    var links = document.querySelectorAll("a[data-shortcut]");
    for (var i = 0; i < links.length; i += 1) {
      if (links[i].getAttribute("data-shortcut") === key) {
        return links[i];
      }
    }
    return null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.repeat || event.isComposing) {
      return;
    }
    /* Shift is allowed: "/" needs it on French AZERTY keyboards. */
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var key = event.key;
    if (!Object.prototype.hasOwnProperty.call(SHORTCUT_KEYS, key)) {
      return;
    }
    if (isEditable(event.target) || isEditable(document.activeElement)) {
      return;
    }
    if (key === "/" && focusSearchField()) {
      event.preventDefault();
      return;
    }
    var link = shortcutLink(key);
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  /* ---------- Dependent fields ----------
     A field wrapper marked data-depends-on="symptoms" is shown only while the
     checkbox named "symptoms" (in the same form) is checked. */

  function setUpDependentField(wrapper) {
    var name = wrapper.getAttribute("data-depends-on");
    var scope = wrapper.closest("form") || document;
    var controls = scope.querySelectorAll("input[type=checkbox]");
    var control = null;
    for (var i = 0; i < controls.length; i += 1) {
      if (controls[i].name === name) {
        control = controls[i];
        break;
      }
    }
    if (!control) {
      return;
    }
    if (wrapper.id) {
      var controlled = (control.getAttribute("aria-controls") || "").split(" ");
      if (controlled.indexOf(wrapper.id) === -1) {
        controlled.push(wrapper.id);
        control.setAttribute("aria-controls", controlled.join(" ").trim());
      }
    }
    function update() {
      wrapper.hidden = !control.checked;
    }
    control.addEventListener("change", update);
    update();
  }

  /* ---------- Submit once ----------
     A form marked data-submit-once (the forms that save a patient or a test) is sent
     once: a second click or Enter is ignored and its submit buttons are disabled while
     the page changes. The server refuses a repeat anyway (one-time form tokens); this
     spares the user the question. Coming back to the page (back button, kept in the
     browser's cache) enables the form again. */

  /* ---------- CSV import progress ----------
     The review page of a file the worker is checking or importing marks its panel
     data-import-progress="<JSON URL>". Every 2 s the JSON (phase, state, done, total,
     percent) moves the <progress> bar and its aria-live text; when the pass is over
     (another phase), the page is reloaded to show the outcome. Without this script, a
     <noscript> meta refresh reloads the page. */

  var PROGRESS_POLL_MS = 2000;

  function setUpImportProgress(panel) {
    var url = panel.getAttribute("data-import-progress");
    var phase = panel.getAttribute("data-import-phase");
    var bar = panel.querySelector("progress");
    var text = panel.querySelector("[data-import-progress-text]");
    var template = text ? text.getAttribute("data-import-progress-text") : "";
    if (!url || !bar || !window.fetch) {
      return;
    }
    function poll() {
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("progress " + response.status);
          }
          return response.json();
        })
        .then(function (progress) {
          if (progress.phase !== phase) {
            window.location.reload();
            return;
          }
          bar.max = Math.max(progress.total, 1);
          bar.value = progress.done;
          bar.textContent = progress.percent + " %";
          if (text && template && progress.done > 0) {
            text.textContent = template.replace("{percent}", progress.percent);
          }
          window.setTimeout(poll, PROGRESS_POLL_MS);
        })
        .catch(function () {
          /* A network hiccup: try again later, more slowly. */
          window.setTimeout(poll, PROGRESS_POLL_MS * 3);
        });
    }
    window.setTimeout(poll, PROGRESS_POLL_MS);
  }

  function setUpSubmitOnce(form) {
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-submitting")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitting", "");
      /* Disabled after the event: a button disabled now would leave the form data. */
      window.setTimeout(function () {
        var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
        for (var i = 0; i < buttons.length; i += 1) {
          buttons[i].disabled = true;
        }
      }, 0);
    });
  }

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-submitting]");
    for (var i = 0; i < forms.length; i += 1) {
      forms[i].removeAttribute("data-submitting");
      var buttons = forms[i].querySelectorAll("button[type=submit], input[type=submit]");
      for (var j = 0; j < buttons.length; j += 1) {
        buttons[j].disabled = false;
      }
    }
  });

  /* ---------- Session ending ----------
     On staff pages, the body carries data-session-seconds (until the idle session ends) and
     data-session-notice: a minute before the session would end with no page sent,
     the notice is shown among the page's messages. What is posted after the end is
     kept by the server for the user to find after logging in again. */

  function setUpSessionNotice(body) {
    var seconds = parseInt(body.getAttribute("data-session-seconds"), 10);
    var text = body.getAttribute("data-session-notice");
    var messages = document.querySelector(".messages");
    if (!seconds || !text || !messages) {
      return;
    }
    window.setTimeout(function () {
      if (document.querySelector("[data-session-ending]")) {
        return;
      }
      var notice = document.createElement("p");
      notice.className = "message message--warning";
      notice.setAttribute("data-session-ending", "");
      notice.textContent = text;
      messages.appendChild(notice);
    }, Math.max(0, seconds - 60) * 1000);
  }

  /* ---------- Tests in progress: reading timers ----------
     Each item marked data-due (an ISO time) counts down to its kit's reading time,
     on the server's clock (data-server-now on the list: a counter PC's clock may be
     wrong), and is marked is-due, with its text saying so, once it may be read. */

  function setUpCountdowns(list) {
    var offset = Date.parse(list.getAttribute("data-server-now")) - Date.now();
    var items = list.querySelectorAll("[data-due]");
    function tick() {
      var now = Date.now() + (isNaN(offset) ? 0 : offset);
      for (var i = 0; i < items.length; i += 1) {
        var item = items[i];
        var counter = item.querySelector("[data-countdown]");
        if (!counter) {
          continue;
        }
        var left = Math.round((Date.parse(item.getAttribute("data-due")) - now) / 1000);
        if (left <= 0) {
          if (!item.classList.contains("is-due")) {
            item.classList.add("is-due");
          }
          counter.textContent = counter.getAttribute("data-label-due");
        } else {
          var minutes = Math.floor(left / 60);
          var seconds = left % 60;
          counter.textContent =
            minutes + ":" + (seconds < 10 ? "0" : "") + seconds + " " +
            counter.getAttribute("data-label-left");
        }
      }
    }
    tick();
    window.setInterval(tick, 1000);
  }

  /* ---------- The kit chooser of the test form ----------
     The search box filters the device list by name or code; choosing a listed device
     chooses its test; the result fields shown are those of the chosen kit (its kind's
     analytes), the first one named after its analyte. Without this script every field
     shows and the server checks them. */

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function setUpDeviceSearch(input) {
    var select = document.getElementById(input.getAttribute("data-device-search"));
    if (!select) {
      return;
    }
    input.addEventListener("input", function () {
      var words = fold(input.value).split(/\s+/).filter(Boolean);
      var first = null;
      var options = select.querySelectorAll("option");
      for (var i = 0; i < options.length; i += 1) {
        var option = options[i];
        var text = fold(option.textContent + " " + option.value);
        var match = !option.value || words.every(function (word) {
          return text.indexOf(word) !== -1;
        });
        option.hidden = !match;
        if (match && option.value && first === null) {
          first = option;
        }
      }
      if (first !== null && words.length) {
        select.value = first.value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  }

  function setUpKitChooser(fieldset) {
    var form = fieldset.form || fieldset.closest("form");
    var results = form && form.querySelector("[data-kit-results]");
    var kinds, kits, boxes;
    try {
      kinds = JSON.parse(fieldset.getAttribute("data-kinds"));
      kits = JSON.parse(fieldset.getAttribute("data-devices"));
      boxes = JSON.parse(fieldset.getAttribute("data-boxes") || "{}");
    } catch (error) {
      return;
    }
    var lot = form.querySelector("[name=lot]");
    var expiry = form.querySelector("[name=lot_expiry]");
    var device = form.querySelector("[name=device_code]");
    var kind = form.querySelector("[name=kind]");
    var firstLegend = results && results.querySelector("[data-result-field=result] legend");
    var generic = firstLegend ? firstLegend.textContent : "";
    function update() {
      var code = (device && device.value && kits[device.value]) || (kind && kind.value);
      var info = kinds[code];
      if (!results) {
        return;
      }
      var wrappers = results.querySelectorAll("[data-result-field]");
      for (var i = 0; i < wrappers.length; i += 1) {
        var name = wrappers[i].getAttribute("data-result-field");
        if (name === "result") {
          continue;
        }
        var analyte = name.replace(/^result__/, "");
        wrappers[i].hidden = !(info && info.analytes.indexOf(analyte) !== -1);
      }
      if (firstLegend) {
        firstLegend.textContent = info && info.analytes.length ? info.first : generic;
      }
    }
    if (device) {
      device.addEventListener("change", function () {
        /* A listed device names its test: the test list follows it (else the kind the
           box or the list showed first would clash with the device chosen). */
        if (kind && kits[device.value]) {
          kind.value = kits[device.value];
        }
        /* A lot belongs to its box: another device gets its own box's lot, or none. */
        var box = boxes[device.value];
        if (lot) {
          lot.value = box ? box.lot : "";
        }
        if (expiry) {
          expiry.value = box ? box.expiry : "";
        }
        update();
      });
    }
    if (kind) {
      kind.addEventListener("change", update);
    }
    update();
  }

  /* ---------- First field ----------
     On a page with a form to fill in (inside <main>), the cursor starts in its first field,
     so that the counter can type at once. When the form came back with errors, it starts
     at the first field in error, or on the error summary (includes/form_errors.html) when
     the error is about the whole form. Left alone: a form marked data-autofocus="off"
     (a confirmation page: buttons only), a GET form (a filter over a list, whose keyboard
     shortcuts work only outside form fields), and a page where something has the focus
     already (an autofocus attribute, or the user was quicker). */

  var FIELDS = "input, select, textarea";
  var NOT_TYPED = { hidden: true, submit: true, button: true, reset: true, image: true };

  function isFillable(field) {
    if (field.disabled || field.readOnly || NOT_TYPED[field.type]) {
      return false;
    }
    if (field.type === "radio" && !field.checked && field.form) {
      /* A radio list is entered at its checked choice, if one is. */
      var group = field.form.querySelectorAll("input[type=radio]");
      for (var i = 0; i < group.length; i += 1) {
        if (group[i].name === field.name && group[i].checked) {
          return false;
        }
      }
    }
    return field.getClientRects().length > 0;
  }

  function firstFillable(scope) {
    var fields = scope.querySelectorAll(FIELDS);
    for (var i = 0; i < fields.length; i += 1) {
      if (isFillable(fields[i])) {
        return fields[i];
      }
    }
    return null;
  }

  function fillableForms() {
    var main = document.querySelector("main");
    if (!main) {
      return [];
    }
    var forms = main.querySelectorAll("form");
    var kept = [];
    for (var i = 0; i < forms.length; i += 1) {
      var form = forms[i];
      if (form.getAttribute("data-autofocus") === "off") {
        continue;
      }
      if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
        continue;
      }
      kept.push(form);
    }
    return kept;
  }

  function focusFirstField() {
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) {
      return;
    }
    var forms = fillableForms();
    for (var i = 0; i < forms.length; i += 1) {
      var summary = forms[i].querySelector(".form-errors");
      if (!summary) {
        continue;
      }
      var wrong = forms[i].querySelector(".field--error");
      var field = wrong ? firstFillable(wrong) : null;
      if (field) {
        field.focus();
      } else {
        summary.setAttribute("tabindex", "-1");
        summary.focus();
      }
      return;
    }
    for (var j = 0; j < forms.length; j += 1) {
      var first = firstFillable(forms[j]);
      if (first) {
        first.focus();
        return;
      }
    }
  }

  function init() {
    var countdowns = document.querySelectorAll("[data-server-now]");
    for (var c = 0; c < countdowns.length; c += 1) {
      setUpCountdowns(countdowns[c]);
    }
    var searches = document.querySelectorAll("[data-device-search]");
    for (var d = 0; d < searches.length; d += 1) {
      setUpDeviceSearch(searches[d]);
    }
    var choosers = document.querySelectorAll("[data-kit-chooser]");
    for (var h = 0; h < choosers.length; h += 1) {
      setUpKitChooser(choosers[h]);
    }
    if (document.body && document.body.hasAttribute("data-session-seconds")) {
      setUpSessionNotice(document.body);
    }
    var wrappers = document.querySelectorAll("[data-depends-on]");
    for (var i = 0; i < wrappers.length; i += 1) {
      setUpDependentField(wrappers[i]);
    }
    var progressPanels = document.querySelectorAll("[data-import-progress]");
    for (var q = 0; q < progressPanels.length; q += 1) {
      setUpImportProgress(progressPanels[q]);
    }
    var forms = document.querySelectorAll("form[data-submit-once]");
    for (var k = 0; k < forms.length; k += 1) {
      setUpSubmitOnce(forms[k]);
    }
    // A button that prints the page (the result slip); hidden until this script runs.
    var printers = document.querySelectorAll("button[data-print]");
    for (var p = 0; p < printers.length; p += 1) {
      printers[p].hidden = false;
      printers[p].addEventListener("click", function () {
        window.print();
      });
    }
    /* After the dependent fields: a field they hide is not the first one. */
    focusFirstField();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

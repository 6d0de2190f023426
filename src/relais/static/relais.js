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

  function init() {
    var wrappers = document.querySelectorAll("[data-depends-on]");
    for (var i = 0; i < wrappers.length; i += 1) {
      setUpDependentField(wrappers[i]);
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
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

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
    var wrappers = document.querySelectorAll("[data-depends-on]");
    for (var i = 0; i < wrappers.length; i += 1) {
      setUpDependentField(wrappers[i]);
    }
    var forms = document.querySelectorAll("form[data-submit-once]");
    for (var k = 0; k < forms.length; k += 1) {
      setUpSubmitOnce(forms[k]);
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

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

  function init() {
    var wrappers = document.querySelectorAll("[data-depends-on]");
    for (var i = 0; i < wrappers.length; i += 1) {
      setUpDependentField(wrappers[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

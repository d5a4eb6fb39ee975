/* Behaviour every admin page shares (loaded from /admin/static: the CSP allows no inline script).
   - A table wider than the screen scrolls sideways; it becomes focusable then, so a keyboard can scroll it.
   - An element with data-refresh="N" (the dashboard, a channel with a run in progress) holds a checkbox
     that reloads the page every N seconds while it is ticked; unticking it is remembered per page, so
     nobody is hurried by a page that changes under them (WCAG 2.2.1). */
(function () {
  "use strict";

  function markScrollableTables() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
        if (!table.hasAttribute("aria-label")) {
          var heading = table.previousElementSibling;
          table.setAttribute("aria-label", heading && /^H[1-3]$/.test(heading.tagName) ? heading.textContent : "table");
        }
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }

  function autoRefresh(box) {
    var seconds = parseInt(box.dataset.refresh, 10);
    var toggle = box.querySelector("input[type=checkbox]");
    if (!seconds || !toggle) { return; }
    var key = "omsb-refresh:" + location.pathname;
    var timer = null;
    toggle.checked = localStorage.getItem(key) !== "off";
    function arm() {
      clearTimeout(timer);
      if (toggle.checked) { timer = setTimeout(function () { location.reload(); }, seconds * 1000); }
    }
    toggle.addEventListener("change", function () {
      localStorage.setItem(key, toggle.checked ? "on" : "off");
      arm();
    });
    arm();
  }

  markScrollableTables();
  window.addEventListener("resize", markScrollableTables);
  document.querySelectorAll("[data-refresh]").forEach(autoRefresh);
})();

// The chart's interactivity, and nothing else: a tap (or a key) on a day's bar shows its
// figures under the chart. The page is complete without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var out = document.getElementById("tapped");
  if (!out) { return; }
  var picked = null;
  function show(bar) {
    if (picked) { picked.classList.remove("picked"); }
    picked = bar;
    bar.classList.add("picked");
    out.textContent = bar.getAttribute("data-label");
  }
  document.querySelectorAll("svg.chart g.bar").forEach(function (bar) {
    bar.addEventListener("click", function () { show(bar); });
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { show(bar); event.preventDefault(); }
    });
  });
});

/* Draws every <canvas data-src="..."> of the page with Chart.js (vendored, /admin/static/vendor):
   fetches the JSON the data-src names ({labels, datasets}) from the same origin and draws it as
   data-kind (bar | line | scatter). No inline script: the admin CSP allows only scripts from here. */
(function () {
  "use strict";
  var palette = ["#0b4fb3", "#a3211a", "#146c2b", "#7a4f00", "#6b2fa3", "#00707a", "#b3005e", "#4f5866"];

  function draw(canvas) {
    fetch(canvas.dataset.src, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.json();
      })
      .then(function (data) {
        var kind = canvas.dataset.kind || "line";
        var stacked = canvas.dataset.stacked === "1";
        data.datasets.forEach(function (set, i) {
          var colour = palette[i % palette.length];
          set.borderColor = colour;
          set.backgroundColor = kind === "bar" ? colour : colour + "33";
          set.pointRadius = kind === "scatter" ? 3 : 0;
          set.borderWidth = kind === "bar" ? 0 : 2;
          if (kind === "scatter") { set.showLine = false; }
        });
        var chart = new Chart(canvas, {
          type: kind === "scatter" ? "line" : kind,
          data: data,
          options: {
            responsive: true, maintainAspectRatio: false, animation: false,
            interaction: {mode: "nearest", intersect: false},
            scales: {
              x: {type: "category", stacked: stacked, ticks: {maxTicksLimit: 12, autoSkip: true}},
              y: {beginAtZero: true, stacked: stacked}
            },
            plugins: {legend: {position: "bottom"}}
          }
        });
        canvas.dataset.points = String(data.datasets.reduce(function (n, set) { return n + set.data.length; }, 0));
        canvas.dataset.ready = "1";
        canvas.chart = chart;
      })
      .catch(function (problem) {
        canvas.dataset.ready = "error";
        var note = document.createElement("p");
        note.className = "muted";
        note.textContent = "The chart could not be loaded (" + problem.message + ").";
        canvas.parentNode.appendChild(note);
      });
  }

  document.querySelectorAll("canvas[data-src]").forEach(draw);
})();

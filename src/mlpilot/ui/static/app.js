/* mlpilot UI: draws the time-series charts (uPlot) from <script type="application/json">
   data; the page works without it, charts aside. No inline scripts (see the CSP). */
(function () {
  "use strict";
  var COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"];

  function fade(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function draw(figure) {
    if (typeof uPlot === "undefined" || figure.dataset.drawn) return;
    var source = document.getElementById(figure.dataset.chart);
    var target = figure.querySelector(".plot");
    if (!source || !target) return;
    var spec = JSON.parse(source.textContent);
    var data = [spec.x];
    var series = [{}];
    spec.series.forEach(function (s) {
      var colour = COLOURS[s.color % COLOURS.length];
      data.push(s.values);
      series.push(s.band
        ? { label: s.label, stroke: fade(colour, 0.35), width: 1, dash: [4, 4] }
        : { label: s.label, stroke: colour, width: 2, points: { show: true, size: 5 },
            value: function (u, v) { return v == null ? "—" : (+v).toPrecision(4) + (spec.unit ? " " + spec.unit : ""); } });
    });
    var bands = (spec.bands || []).map(function (b) {
      var colour = COLOURS[spec.series[b[0] - 1].color % COLOURS.length];
      return { series: b, fill: fade(colour, 0.15) };
    });
    var width = Math.max(280, Math.min(target.clientWidth || 900, 1100));
    new uPlot({ width: width, height: 240, series: series, bands: bands,
                scales: { x: { time: true } }, axes: [{}, { size: 60 }] }, data, target);
    figure.dataset.drawn = "1";
  }

  function init() {
    document.querySelectorAll("figure[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  window.addEventListener("load", init);
})();

// The dashboard's charts: Chart.js (static/vendor/chartjs) draws each <canvas data-chart>
// from the JSON data block it names (written by Django's json_script; the
// Content-Security-Policy allows no inline script). The numbers are in a table beside each
// chart too; without script the tables alone show them.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var ink = "#1d2733";

  // Each value written above its bar or point.
  var valueLabels = {
    id: "valueLabels",
    afterDatasetsDraw: function (chart, args, options) {
      var ctx = chart.ctx;
      var count = chart.data.labels.length;
      // On a narrow chart, every n-th value (and the last): the table has them all.
      var every = Math.max(1, Math.ceil(38 / (chart.chartArea.width / Math.max(count, 1))));
      chart.data.datasets.forEach(function (dataset, i) {
        chart.getDatasetMeta(i).data.forEach(function (element, index) {
          var value = dataset.data[index];
          if (value === null || value === undefined) {
            return;
          }
          if ((count - 1 - index) % every !== 0) {
            return;
          }
          var at = element.tooltipPosition();
          var text = String(value) + (options.unit || "");
          ctx.save();
          ctx.fillStyle = ink;
          ctx.font = "600 12px system-ui, sans-serif";
          ctx.textAlign = "center";
          ctx.textBaseline = "bottom";
          // Centred on its point, but kept inside the plot: the first point's label would
          // run over the y axis's ticks, the last one's off the canvas's right edge.
          var half = ctx.measureText(text).width / 2 + 1;
          var area = chart.chartArea;
          var x = Math.max(area.left + half, Math.min(at.x, chart.width - half));
          ctx.fillText(text, x, at.y - 4);
          ctx.restore();
        });
      });
    }
  };

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: spec.kind,
      data: {
        labels: spec.labels,
        datasets: [{
          label: spec.y,
          data: spec.values,
          backgroundColor: spec.color,
          borderColor: spec.color,
          pointRadius: 4,
          spanGaps: true
        }]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        layout: { padding: { top: 22, right: 12 } },
        plugins: {
          legend: { display: false },
          valueLabels: { unit: spec.unit },
          tooltip: { enabled: true }
        },
        scales: {
          // A line's first and last points half a month in from the edges, as a bar's are:
          // room for their value labels.
          x: { offset: true, title: { display: true, text: spec.x, color: ink } },
          y: {
            beginAtZero: true,
            grace: "10%",
            ticks: { precision: 0 },
            title: { display: true, text: spec.y, color: ink }
          }
        }
      },
      plugins: [valueLabels]
    });
    canvas.setAttribute("data-drawn", "true");
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();

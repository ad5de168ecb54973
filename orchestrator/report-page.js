// The script inside every HTML report (inlined by orchestrator/report.ts after uPlot):
// draws each run's charts from the JSON block #swapnet-data with uPlot, shades the fault
// periods on the canvas and marks each with a .fault-band element over the plot, and
// exposes the charts as window.__charts ({ run, id, plot }) for tests and the console.
// Runs in the browser, offline: it loads nothing.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('swapnet-data').textContent);
  const BAND_FILL = 'rgba(204, 41, 54, 0.14)';
  const HEIGHT = 200;
  const charts = [];

  /** Shades each band on the canvas (before the series) and keeps one DOM marker per band. */
  function faultBands(bands) {
    let markers = [];
    const place = (u) => {
      bands.forEach((b, i) => {
        const el = markers[i];
        if (!el) return;
        const x0 = u.valToPos(b.from, 'x');
        const x1 = u.valToPos(b.to, 'x');
        el.style.left = x0 + 'px';
        el.style.width = Math.max(1, x1 - x0) + 'px';
      });
    };
    return {
      hooks: {
        // uPlot's first draw comes before `ready`: the markers are placed here, then on
        // every later draw (resize, zoom).
        ready: [
          (u) => {
            markers = bands.map((b) => {
              const el = document.createElement('div');
              el.className = 'fault-band';
              el.dataset.from = String(b.from);
              el.dataset.to = String(b.to);
              el.dataset.label = b.label;
              el.title = 'fault: ' + b.label;
              u.over.appendChild(el);
              return el;
            });
            place(u);
          },
        ],
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = BAND_FILL;
            for (const b of bands) {
              const x0 = u.valToPos(b.from, 'x', true);
              const x1 = u.valToPos(b.to, 'x', true);
              ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
            }
            ctx.restore();
          },
        ],
        draw: [place],
      },
    };
  }

  function fmt(v) {
    return v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US');
  }

  function powersOfTen(min, max) {
    const out = [];
    for (let v = 1; v <= max; v *= 10) if (v >= min) out.push(v);
    return out;
  }

  /** Axis labels: uPlot passes null for the ticks it leaves unlabelled (log minor ticks). */
  function tickLabels(u, ticks) {
    return ticks.map((t) => (t === null || t === undefined ? '' : fmt(t)));
  }

  function makeChart(run, runIndex, chart, width) {
    const host = document.getElementById('run' + runIndex + '-' + chart.id);
    const range = data.scale.y[chart.id] || { left: 1, right: 1 };
    const hasRight = chart.series.some((s) => s.axis === 'right');
    const leftMax = Math.max(1, range.left) * 1.05;
    const scales = {
      x: { time: false, range: [0, Math.max(1, data.scale.xMax)] },
      y: chart.log
        ? {
            distr: 3,
            log: 10,
            range: [1, Math.pow(10, Math.ceil(Math.log10(Math.max(10, range.left))))],
          }
        : { range: [0, leftMax] },
    };
    const axes = [
      { label: 'seconds', values: (u, ticks) => ticks.map((t) => t + 's') },
      { label: chart.unit, scale: 'y', size: 60, values: tickLabels },
    ];
    // Log axis: a line per power of ten (uPlot's default adds 2..9 x 10^k, too dense here).
    if (chart.log) axes[1].splits = (u, i, min, max) => powersOfTen(min, max);
    if (hasRight) {
      scales.r = { range: [0, Math.max(1, range.right) * 1.05] };
      axes.push({
        label: chart.rightUnit,
        scale: 'r',
        side: 1,
        size: 60,
        grid: { show: false },
        values: tickLabels,
      });
    }
    // A log axis cannot show the zeros that report-charts.ts turned into gaps: the
    // legend still says 0 for them.
    const series = [
      { label: 't', value: (u, v) => (v === null ? '-' : v.toFixed(1) + ' s') },
    ].concat(
      chart.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.dash ? 1 : 1.75,
        dash: s.dash ? [6, 4] : undefined,
        scale: s.axis === 'right' ? 'r' : 'y',
        spanGaps: false,
        points: { show: false },
        value: (u, v, si, idx) =>
          idx === null || idx === undefined ? '-' : v === null && chart.log ? '0' : fmt(v),
      })),
    );
    const opts = {
      width: width,
      height: HEIGHT,
      scales: scales,
      axes: axes,
      series: series,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      plugins: [faultBands(run.bands)],
    };
    const plot = new uPlot(opts, [chart.x].concat(chart.series.map((s) => s.values)), host);
    charts.push({ run: runIndex, id: chart.id, plot: plot });
  }

  function widthOf(runIndex) {
    const section = document.querySelector('section.run[data-run="' + runIndex + '"]');
    return Math.max(320, Math.floor((section ? section.clientWidth : 600) - 8));
  }

  data.runs.forEach((run, i) => {
    const width = widthOf(i);
    for (const chart of run.charts) makeChart(run, i, chart, width);
  });

  let pending = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const c of charts) c.plot.setSize({ width: widthOf(c.run), height: HEIGHT });
    });
  });

  window.__charts = charts;
  document.documentElement.dataset.charts = String(charts.length);
})();

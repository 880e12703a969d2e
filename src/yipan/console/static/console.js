/* Yipan console: draws the charts a page (or an HTMX fragment) asks for with data attributes. */
(function () {
  "use strict";

  function stockMap(el) {
    var spec = JSON.parse(el.getAttribute("data-stock-map"));
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    var escape = echarts.format.encodeHTML;
    chart.setOption(
      {
        animation: false,
        grid: { left: 48, right: 16, top: 40, bottom: 40 },
        legend: { top: 0 },
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            // Node names come from the database: escape them, the tooltip is HTML.
            return (
              escape(p.data[2]) + " " + escape(p.data[3]) + "<br>" +
              escape(spec.atp) + ": " + escape(String(p.data[4]))
            );
          },
        },
        xAxis: { type: "value", name: spec.x, scale: true, nameLocation: "middle", nameGap: 26 },
        yAxis: { type: "value", name: spec.y, scale: true },
        series: spec.series.map(function (s) {
          return {
            type: "scatter",
            name: s.name,
            data: s.points,
            symbolSize: 9,
            itemStyle: { color: s.color, opacity: 0.85 },
          };
        }),
      },
      true
    );
  }

  // A routing decision's candidate plans as horizontal bars, stacked by cost term, best on top.
  function routingChart(el) {
    var spec = JSON.parse(el.getAttribute("data-routing-chart"));
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    var plans = spec.plans.map(function (name, i) {
      return i === spec.chosen ? name + " (" + spec.chosen_label + ")" : name;
    });
    chart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 56, top: 40, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", name: spec.total_label },
        yAxis: { type: "category", data: plans, inverse: true },
        series: spec.series.map(function (s, k) {
          var last = k === spec.series.length - 1;
          return {
            type: "bar",
            name: s.name,
            stack: "cost",
            data: s.values,
            itemStyle: { color: s.color },
            label: last
              ? {
                  show: true,
                  position: "right",
                  formatter: function (p) { return String(spec.totals[p.dataIndex]); },
                }
              : { show: false },
          };
        }),
      },
      true
    );
  }

  // Bars side by side per category (the planning page's backtest: chosen model vs naive).
  function barChart(el) {
    var spec = JSON.parse(el.getAttribute("data-bar-chart"));
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    chart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: function (v) { return v + spec.unit; } },
        xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 8 ? 40 : 0 } },
        yAxis: { type: "value", axisLabel: { formatter: "{value}" + spec.unit } },
        series: spec.series.map(function (s) {
          return { type: "bar", name: s.name, data: s.values, itemStyle: { color: s.color } };
        }),
      },
      true
    );
  }

  // One series by day (the planning page's forecast of a SKU at a node).
  function lineChart(el) {
    var spec = JSON.parse(el.getAttribute("data-line-chart"));
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    chart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: spec.days },
        yAxis: { type: "value", name: spec.name, min: 0 },
        series: [{ type: "line", name: spec.name, data: spec.values, smooth: false, areaStyle: { opacity: 0.15 } }],
      },
      true
    );
  }

  var CHARTS = "[data-stock-map], [data-routing-chart], [data-bar-chart], [data-line-chart]";

  function draw(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll("[data-stock-map]").forEach(stockMap);
    root.querySelectorAll("[data-routing-chart]").forEach(routingChart);
    root.querySelectorAll("[data-bar-chart]").forEach(barChart);
    root.querySelectorAll("[data-line-chart]").forEach(lineChart);
  }

  function forget(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll(CHARTS).forEach(function (el) {
      var chart = echarts.getInstanceByDom(el);
      if (chart) chart.dispose();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:beforeSwap", function (e) { forget(e.detail.target); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.detail.target); });
  window.addEventListener("resize", function () {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll(CHARTS).forEach(function (el) {
      var chart = echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });
})();

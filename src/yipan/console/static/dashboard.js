/* The dashboard's charts: sales by channel per day (stacked bars and the total as a line) and
   every node on longitude × latitude coloured by stock health. Data comes in data attributes. */
(function () {
  "use strict";

  function salesChart(el) {
    var spec = JSON.parse(el.getAttribute("data-sales-chart"));
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    var series = spec.series.map(function (s) {
      return {
        type: "bar",
        name: s.name,
        stack: "sales",
        data: s.values,
        itemStyle: { color: s.color },
        emphasis: { focus: "series" },
      };
    });
    series.push({
      type: "line",
      name: spec.total.name,
      data: spec.total.values,
      symbolSize: 5,
      itemStyle: { color: "#1d2430" },
      lineStyle: { width: 2 },
    });
    chart.setOption(
      {
        animation: false,
        grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: spec.days },
        yAxis: { type: "value", name: spec.yuan },
        series: series,
      },
      true
    );
  }

  function nodeMap(el) {
    var spec = JSON.parse(el.getAttribute("data-node-map"));
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
              escape(spec.short) + ": " + escape(String(p.data[4])) + "<br>" +
              escape(spec.carried) + ": " + escape(String(p.data[5]))
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
            symbolSize: 10,
            itemStyle: { color: s.color, opacity: 0.85 },
          };
        }),
      },
      true
    );
  }

  var CHARTS = "[data-sales-chart], [data-node-map]";

  function draw() {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll("[data-sales-chart]").forEach(salesChart);
    document.querySelectorAll("[data-node-map]").forEach(nodeMap);
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw();
    // Choosing a region shows it at once; without JavaScript the Apply button does the same.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
  window.addEventListener("resize", function () {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll(CHARTS).forEach(function (el) {
      var chart = echarts.getInstanceByDom(el);
      if (chart) chart.resize();
    });
  });
})();

// Apache ECharts, vendored (docs/dashboard.md): served by whodid under a versioned, immutable path.
import * as echarts from "/dashboard/vendor/echarts-5.6.0/echarts.esm.min.js";

export const PALETTE = ["#2f6fed", "#e8793a", "#1e8e3e", "#9b51e0", "#c0392b", "#0097a7", "#b7791f", "#5c6b8a"];
const live = new Set();

export function chart(container, option, { height = 320 } = {}) {
  container.classList.add("chart");
  container.style.height = `${height}px`;
  const instance = echarts.init(container, null, { renderer: "svg" });
  instance.setOption({ color: PALETTE, animation: false, textStyle: { fontFamily: "system-ui, sans-serif" }, ...option });
  const observer = new ResizeObserver(() => instance.resize());
  observer.observe(container);
  live.add({ instance, observer });
  return instance;
}

// Called on every navigation: charts of the previous page are released.
export function disposeAll() {
  for (const { instance, observer } of live) { observer.disconnect(); instance.dispose(); }
  live.clear();
}

export const version = echarts.version;

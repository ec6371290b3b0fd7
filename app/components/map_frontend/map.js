// The interest map as a Streamlit component (components v1 protocol, no build step).
//
// st.plotly_chart identifies a chart by its spec, so every new user remounted the map: a new
// Plotly plot of the whole catalogue in every viewer's browser. This frame keeps one plot and
// updates it in place with Plotly.react; it sends selections back in st.plotly_chart's shape
// ({selection: {points: [{customdata, curve_number, point_number, point_index, x, y}]}}), with
// the view (model and user) they were made on, so the page can ignore a selection made on
// another user's map.
(function () {
  "use strict";
  const div = document.getElementById("map");
  const CONFIG = { displaylogo: false, scrollZoom: true, responsive: true };
  let view = null;
  let height = 0;
  let listening = false;
  let lastSpec = null;

  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }

  function setHeight(h) {
    if (h !== height) {
      height = h;
      send("streamlit:setFrameHeight", { height: h });
    }
  }

  function point(p) {
    let cd = p.customdata;
    if (Array.isArray(cd)) cd = cd.length ? cd[0] : null;
    return { customdata: cd, curve_number: p.curveNumber, point_number: p.pointNumber,
             point_index: p.pointIndex, x: p.x, y: p.y };
  }

  function select(points, box, lasso) {
    send("streamlit:setComponentValue", {
      dataType: "json",
      value: { view: view, selection: { points: points.map(point), box: box || [],
                                        lasso: lasso || [] } },
    });
  }

  function listen() {
    div.on("plotly_selected", function (ev) {
      if (!ev) return;  // a click on the empty plot while selecting: plotly_deselect follows
      select(ev.points || [], ev.range ? [ev.range] : [], ev.lassoPoints ? [ev.lassoPoints] : []);
    });
    div.on("plotly_click", function (ev) { select(ev && ev.points ? ev.points.slice(0, 1) : []); });
    div.on("plotly_deselect", function () { select([]); });
    listening = true;
  }

  window.addEventListener("message", function (event) {
    const msg = event.data;
    if (event.source !== window.parent || !msg || msg.type !== "streamlit:render") return;
    const args = msg.args || {};
    if (args.spec === lastSpec) return;  // a rerun that changed nothing on the map
    lastSpec = args.spec;
    const spec = typeof args.spec === "string" ? JSON.parse(args.spec) : args.spec;
    view = args.view;
    // a new view (user or model) starts without a selection; the same view keeps it
    spec.layout.selectionrevision = view;
    setHeight(spec.layout.height);  // before drawing: the page does not jump when it lands
    Plotly.react(div, spec.data, spec.layout, CONFIG).then(function () {
      if (!listening) listen();
      document.body.dataset.view = view;  // for tests: the view drawn
    });
  });

  send("streamlit:componentReady", { apiVersion: 1 });
})();

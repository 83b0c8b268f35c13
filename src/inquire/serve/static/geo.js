// Where and when: the search page's map and timeline. After each search (app.js calls
// inquireGeo.update with the search's body) the server computes where and when the top results and
// the images labelled relevant to the query lie (POST /api/overview); the map places them (Leaflet,
// over a bundled world outline, or the tile server given to `inquire serve --tiles`), the timeline
// counts them by month and by hour. A box drawn on the map sets the box filter; a bar clicked on the
// timeline sets the months or hours filter. Values from the collection are set as text, never as HTML.
"use strict";

(() => {
  const OVERVIEW_K = 1000;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const $ = (id) => document.getElementById(id);
  const state = { map: null, markers: null, box: null, drawing: false, start: null, end: null, last: null };

  // ------------------------------------------------------------------------------------ filters

  function months() {
    const input = $("months");
    return input && input.value ? input.value.split(",").map(Number).filter((m) => m >= 1 && m <= 12) : [];
  }

  function setMonths(list) {
    const sorted = [...new Set(list)].sort((a, b) => a - b);
    $("months").value = sorted.join(",");
    for (const box of document.querySelectorAll("#months-filter input[type=checkbox]")) {
      box.checked = sorted.includes(Number(box.value));
    }
  }

  function hourRange() {
    const from = $("hour_from"), to = $("hour_to");
    if (!from || (from.value === "" && to.value === "")) return null;
    return [from.value === "" ? 0 : Number(from.value), to.value === "" ? 23 : Number(to.value)];
  }

  const inRange = (h, [a, b]) => (a <= b ? h >= a && h <= b : h >= a || h <= b);

  function searchAgain() {
    if (typeof search === "function") search(); // app.js's search, with the filters now set
  }

  // ------------------------------------------------------------------------------------ map

  function initMap() {
    const box = $("map");
    if (!box || !window.L) return;
    const map = L.map(box, { worldCopyJump: true, minZoom: 1, boxZoom: false, zoomSnap: 0.5 });
    map.fitWorld();
    const tiles = document.body.dataset.tiles;
    if (tiles) {
      const credit = document.createElement("span"); // the operator's credit line, as text
      credit.textContent = document.body.dataset.tilesAttribution || "";
      L.tileLayer(tiles, { attribution: credit.innerHTML, maxZoom: 19 }).addTo(map);
    } else {
      fetch("/static/vendor/land-110m.geojson").then((r) => r.json()).then((land) => {
        L.geoJSON(land, { interactive: false, style: { color: "#8da596", weight: 1, fillColor: "#dfe8e1", fillOpacity: 1 } })
          .addTo(map).bringToBack();
      });
      map.attributionControl.addAttribution("Land: Natural Earth (public domain)");
    }
    state.markers = L.layerGroup().addTo(map);
    state.map = map;
    map.on("mousedown", startBox);
    map.on("mousemove", moveBox);
    document.addEventListener("mouseup", endBox);
    $("draw-box").addEventListener("click", () => setDrawing(!state.drawing));
    $("clear-box").addEventListener("click", () => {
      for (const name of ["lat_min", "lat_max", "lon_min", "lon_max"]) $(name).value = "";
      searchAgain();
    });
    window.inquireGeo.map = map;
  }

  function setDrawing(on) {
    state.drawing = on;
    $("draw-box").setAttribute("aria-pressed", String(on));
    $("map").classList.toggle("drawing", on);
    if (on) state.map.dragging.disable();
    else state.map.dragging.enable();
  }

  function startBox(e) {
    if (!state.drawing && !e.originalEvent.shiftKey) return;
    if (!state.drawing) setDrawing(true);
    state.start = state.end = e.latlng;
    showBox(L.latLngBounds(e.latlng, e.latlng));
  }

  function moveBox(e) {
    if (!state.start) return;
    state.end = e.latlng;
    showBox(L.latLngBounds(state.start, e.latlng));
  }

  function endBox() { // on mouseup, over the map or anywhere else (the box then ends where the pointer left the map)
    if (!state.start) return;
    const bounds = L.latLngBounds(state.start, state.end);
    state.start = null;
    setDrawing(false);
    if (bounds.getNorth() - bounds.getSouth() < 1e-6 || bounds.getEast() - bounds.getWest() < 1e-6) return; // a click, not a box
    const clamp = (v) => Math.max(-90, Math.min(90, v));
    const wrap = (v) => ((((v + 180) % 360) + 360) % 360) - 180;
    const round = (v) => Math.round(v * 10000) / 10000;
    $("lat_min").value = round(clamp(bounds.getSouth()));
    $("lat_max").value = round(clamp(bounds.getNorth()));
    if (bounds.getEast() - bounds.getWest() >= 360) {
      $("lon_min").value = $("lon_max").value = "";
    } else { // a box across the antimeridian has its west edge east of its east edge, as the API reads it
      $("lon_min").value = round(wrap(bounds.getWest()));
      $("lon_max").value = round(wrap(bounds.getEast()));
    }
    searchAgain();
  }

  function showBox(bounds) {
    if (state.box) state.box.remove();
    state.box = bounds ? L.rectangle(bounds, { color: "#b8572a", weight: 2, fill: false, interactive: false, className: "filter-box" }).addTo(state.map) : null;
  }

  function boxFromFilters() {
    const v = (id) => ($(id) && $(id).value !== "" ? Number($(id).value) : null);
    const [s, n, w, e] = ["lat_min", "lat_max", "lon_min", "lon_max"].map(v);
    if ([s, n, w, e].every((x) => x === null)) return null;
    let west = w ?? -180, east = e ?? 180;
    if (east < west) east += 360; // across the antimeridian: continued east of it
    const shift = Math.round((state.map.getCenter().lng - (west + east) / 2) / 360) * 360; // the copy of the world in view
    return L.latLngBounds([s ?? -85, west + shift], [n ?? 85, east + shift]);
  }

  function placeMarkers(points) {
    state.markers.clearLayers();
    const ordered = [...points].sort((a, b) => Number(a.relevant) - Number(b.relevant)); // relevant on top
    for (const p of ordered) {
      const kind = p.relevant ? "relevant" : "result";
      const marker = L.circleMarker([p.lat, p.lon], {
        radius: p.relevant ? 6 : 4.5, weight: 1, color: "#fff", fillColor: p.relevant ? "#d9822b" : "#2f6f4e",
        fillOpacity: 0.9, className: `marker ${kind}`,
      });
      marker.bindTooltip(p.rank ? `#${p.rank}${p.relevant ? " · labelled relevant" : ""}` : "labelled relevant (not among these results)");
      marker.on("click", () => {
        const card = document.querySelector(`#results .card[data-row="${p.row}"]`);
        if (card) card.scrollIntoView({ behavior: "smooth", block: "center" });
      });
      marker.addTo(state.markers);
      const path = marker.getElement();
      path.dataset.row = p.row;
      path.dataset.lat = p.lat;
      path.dataset.lon = p.lon;
    }
  }

  // ------------------------------------------------------------------------------------ timeline

  function bars(container, kind, labels, results, relevant, selected, onClick) {
    if (!container) return;
    const top = Math.max(1, ...results, ...relevant);
    container.replaceChildren(...labels.map((label, i) => {
      const bar = document.createElement("button");
      bar.type = "button";
      bar.className = "bar";
      bar.dataset[kind] = kind === "month" ? i + 1 : i;
      bar.setAttribute("aria-pressed", String(selected(i)));
      bar.title = `${label}: ${results[i]} of the top results, ${relevant[i]} labelled relevant`;
      for (const [cls, n] of [["results", results[i]], ["relevant", relevant[i]]]) {
        const column = document.createElement("span");
        column.className = `count ${cls}`;
        column.style.height = `${(100 * n) / top}%`;
        column.dataset.count = n;
        bar.append(column);
      }
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = label;
      bar.append(name);
      bar.addEventListener("click", (event) => onClick(kind === "month" ? i + 1 : i, event));
      return bar;
    }));
  }

  function clickMonth(month) {
    const list = months();
    setMonths(list.includes(month) ? list.filter((m) => m !== month) : [...list, month]);
    searchAgain();
  }

  function clickHour(hour, event) {
    const from = $("hour_from"), to = $("hour_to");
    if (event.shiftKey && from.value !== "") {
      to.value = hour; // a range from the first hour clicked
    } else if (from.value === String(hour) && to.value === String(hour)) {
      from.value = to.value = ""; // the same hour again: no hour filter
    } else {
      from.value = to.value = hour;
    }
    searchAgain();
  }

  function drawTimeline(data) {
    if (!$("timeline")) return; // a collection without dates
    const chosen = months(), hours = hourRange();
    bars($("month-bars"), "month", MONTHS, data.results.months, data.relevant.months,
      (i) => chosen.includes(i + 1), clickMonth);
    bars($("hour-bars"), "hour", [...Array(24).keys()].map(String), data.results.hours, data.relevant.hours,
      (i) => hours !== null && inRange(i, hours), clickHour);
    const r = data.results;
    $("timeline-note").textContent = `${r.n} top results; ${r.n_without_month} without a date, ${r.n_without_hour} without a clock time` +
      (data.relevant.n ? ` · ${data.relevant.n} labelled relevant` : "");
  }

  // ------------------------------------------------------------------------------------ data

  // ``fit``: frame the placed points (a new search), or keep the view (a label changed a colour).
  async function update(body, fit = true) {
    if (!$("where-when")) return; // a collection with neither coordinates nor dates
    const request = { ...body, k: OVERVIEW_K };
    delete request.rerank; // the map and timeline show the first stage
    delete request.rerank_from;
    state.last = request;
    const response = await fetch("/api/overview", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) });
    const data = await response.json().catch(() => null);
    if (state.last !== request) return; // a newer search has asked since
    if (!response.ok || !data) return; // the search itself already showed the error
    $("where-when").hidden = false;
    if (state.map) {
      state.map.invalidateSize();
      placeMarkers(data.points);
      if (fit && data.points.length) {
        state.map.fitBounds(L.latLngBounds(data.points.map((p) => [p.lat, p.lon])), { padding: [20, 20], maxZoom: 9, animate: false });
      }
      showBox(boxFromFilters());
      const unplaced = data.results.n - data.results.n_placed;
      $("map-note").textContent = `${data.results.n_placed} of the top ${data.results.n} results placed` +
        (unplaced ? ` (${unplaced} without coordinates)` : "") +
        (data.n_relevant_not_in_collection ? ` · ${data.n_relevant_not_in_collection} relevant images not in this collection` : "");
    }
    drawTimeline(data);
  }

  window.inquireGeo = { update, refresh: () => state.last && update(state.last, false), map: null };

  document.addEventListener("DOMContentLoaded", () => {
    if ($("months")) {
      setMonths(months()); // a shared URL's months, as app.js restored them
      for (const box of document.querySelectorAll("#months-filter input[type=checkbox]")) {
        box.addEventListener("change", () => {
          setMonths([...document.querySelectorAll("#months-filter input:checked")].map((b) => Number(b.value)));
          searchAgain();
        });
      }
    }
    initMap();
  });
})();

// diffgen report: paged, filterable grids of 3-D viewers. Viewers are created once per grid
// cell when the grid first scrolls into view and reused across pages (browsers allow only a
// few WebGL contexts). Each drawn viewer is checked for non-background pixels; the counts
// go to <body data-viewers-drawn / data-viewers-blank> for tests.
(function () {
  var body = document.body;
  function count(name) {
    body.dataset[name] = String(Number(body.dataset[name] || 0) + 1);
  }
  function checkDrawn(viewer, cell) {
    var img = new Image();
    img.onload = function () {
      var c = document.createElement("canvas");
      c.width = img.width; c.height = img.height;
      var g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      var d = g.getImageData(0, 0, c.width, c.height).data, n = 0;
      for (var i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 0 && !(d[i] > 245 && d[i + 1] > 245 && d[i + 2] > 245)) n++;
      }
      cell.dataset.drawnPixels = String(n);
      count(n > 50 ? "viewersDrawn" : "viewersBlank");
    };
    img.src = viewer.pngURI();
  }
  function styleFor(format) {
    if (format === "pdb") return { cartoon: { colorscheme: "ssJmol" } };
    return { stick: { radius: 0.14 }, sphere: { scale: 0.22 } };
  }
  function setUp(grid) {
    var records = Array.prototype.slice.call(grid.querySelectorAll("pre.record"));
    var perPage = Number(grid.dataset.perPage || 12);
    var format = grid.dataset.format || "sdf";
    var cellsEl = grid.querySelector(".grid");
    var filterEl = grid.querySelector("select.filter");
    var label = grid.querySelector(".page");
    var page = 0, cells = [];
    if (typeof $3Dmol === "undefined") {
      cellsEl.innerHTML = "<p class='broken'>The 3-D viewer library did not load (offline? pass --viewer-js FILE).</p>";
      window.diffgenErrors.push("3Dmol.js not loaded");
      document.documentElement.setAttribute("data-errors", window.diffgenErrors.join(" | "));
      return;
    }
    for (var k = 0; k < Math.min(perPage, records.length); k++) {
      var cell = document.createElement("div");
      cell.className = "cell";
      cell.innerHTML = "<div class='viewer'></div><div class='caption'></div>";
      cellsEl.appendChild(cell);
      cells.push({ el: cell, viewer: $3Dmol.createViewer(cell.querySelector(".viewer"), { backgroundColor: "white" }) });
    }
    function shown() {
      var f = filterEl ? filterEl.value : "all";
      return records.filter(function (r) { return f === "all" || r.dataset[f] === "1"; });
    }
    function render() {
      var list = shown();
      var pages = Math.max(1, Math.ceil(list.length / perPage));
      page = Math.max(0, Math.min(page, pages - 1));
      if (label) label.textContent = "page " + (page + 1) + " of " + pages + " (" + list.length + " shown)";
      cells.forEach(function (c, k) {
        var r = list[page * perPage + k];
        c.el.style.display = r ? "" : "none";
        c.viewer.clear();
        if (!r) return;
        c.el.querySelector(".caption").innerHTML = r.dataset.caption || "";
        c.el.classList.toggle("broken", r.dataset.broken === "1");
        if (r.dataset.broken === "1") { c.viewer.render(); return; }
        c.viewer.addModel(r.textContent, format);
        c.viewer.setStyle({}, styleFor(format));
        c.viewer.zoomTo();
        c.viewer.render();
        checkDrawn(c.viewer, c.el);
      });
    }
    grid.querySelectorAll("button[data-step]").forEach(function (b) {
      b.addEventListener("click", function () { page += Number(b.dataset.step); render(); });
    });
    if (filterEl) filterEl.addEventListener("change", function () { page = 0; render(); });
    render();
  }
  var grids = Array.prototype.slice.call(document.querySelectorAll(".viewer-grid"));
  var started = new Set();
  function start(grid) { if (!started.has(grid)) { started.add(grid); setUp(grid); } }
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) start(e.target); });
    });
    grids.forEach(function (g) { seen.observe(g); });
  } else {
    grids.forEach(start);
  }
  body.dataset.grids = String(grids.length);
  // Trajectories: every frame in one viewer, played in a loop.
  document.querySelectorAll(".trajectory").forEach(function (cell) {
    if (typeof $3Dmol === "undefined") return;
    var format = cell.dataset.format || "xyz";
    var viewer = $3Dmol.createViewer(cell.querySelector(".viewer"), { backgroundColor: "white" });
    viewer.addModelsAsFrames(cell.querySelector("pre.frames").textContent, format);
    viewer.setStyle({}, styleFor(format));
    viewer.zoomTo();
    viewer.render();
    checkDrawn(viewer, cell);
    viewer.animate({ loop: "forward", interval: 120 });
  });
})();

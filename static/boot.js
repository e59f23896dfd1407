// Dockhand boot: apply the stored (or system) theme before anything paints, so a
// dark-theme user never sees a white flash, then load the Wasm app, whose
// wasm-bindgen glue is an ES module beside this file.
(function () {
  var theme = null;
  try {
    theme = localStorage.getItem("dockhand.theme");
  } catch (e) {
    // Storage can be disabled; the system preference decides then.
  }
  if (theme !== "dark" && theme !== "light" && theme !== "contrast") {
    theme = window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", theme);

  import("./dockhand_web.js")
    .then(function (m) { return m.default(); })
    .catch(function (err) {
      console.error(err);
      var app = document.getElementById("app");
      if (app) {
        app.textContent = "The playground could not start in this browser: " + err;
      }
    });
})();

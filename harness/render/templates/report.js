(function () {
  "use strict";
  var form = document.getElementById("filters");
  var list = document.getElementById("caselist");
  if (!form || !list) return;
  var items = list.children;
  var total = items.length;
  var q = document.getElementById("q");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("empty");
  function picked(name) {
    var boxes = form.querySelectorAll('input[name="' + name + '"]');
    if (!boxes.length) return null;
    var out = Object.create(null);
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) out[boxes[i].value] = true;
    return out;
  }
  function apply() {
    var st = picked("status"), ca = picked("category");
    var sp = picked("split"), cl = picked("catalog");
    var text = q ? q.value.trim().toLowerCase() : "";
    var n = 0;
    for (var i = 0; i < total; i++) {
      var el = items[i], d = el.dataset;
      var ok = (!st || st[d.status] === true) && (!ca || ca[d.category] === true) &&
        (!sp || sp[d.split] === true) && (!cl || cl[d.catalog] === true);
      if (ok && text) {
        if (el.rcText === undefined) el.rcText = (d.key + " " + el.textContent).toLowerCase();
        ok = el.rcText.indexOf(text) !== -1;
      }
      if (el.hidden === ok) el.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent =
      "showing " + n.toLocaleString("en-US") + " of " + total.toLocaleString("en-US");
    if (empty) empty.hidden = n > 0;
  }
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  if (q) q.addEventListener("input", apply);
  function reveal() {
    var id = location.hash.slice(1);
    var el = id ? document.getElementById(id) : null;
    if (el && el.parentNode === list && el.hidden) {
      el.hidden = false;
      el.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();

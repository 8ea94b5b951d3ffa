(function () {
  "use strict";
  // Scroll containers say so when their content is wider than they are.
  var scrollers = document.querySelectorAll(".scroll");
  function markOverflow() {
    for (var i = 0; i < scrollers.length; i++) {
      var el = scrollers[i];
      el.classList.toggle("overflows", el.scrollWidth > el.clientWidth + 1);
    }
    document.body.setAttribute("data-measured", String(window.innerWidth));
  }
  // Measured once the page has loaded, so that opening a big report does not wait for it.
  if (document.readyState === "complete") markOverflow();
  else window.addEventListener("load", function () { setTimeout(markOverflow, 0); });
  window.addEventListener("resize", markOverflow);

  var form = document.getElementById("filters");
  var list = document.getElementById("caselist");
  if (!form || !list) return;
  var items = Array.prototype.slice.call(list.children);
  var total = items.length;
  var q = document.getElementById("q");
  var sort = document.getElementById("sort");
  var group = document.getElementById("group");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("empty");
  var NAMES = ["status", "outcome", "error", "category", "split", "catalog"];
  var OUTCOMES = ["false_tool_call", "missed_call", "wrong_tool", "ungrounded", "wrong_arguments",
    "invalid", "correct"];
  for (var i = 0; i < total; i++) items[i].rcIndex = i;

  function boxes(name) {
    return form.querySelectorAll('input[name="' + name + '"]');
  }
  function picked(name) {
    var b = boxes(name);
    if (!b.length) return null;
    var out = Object.create(null);
    for (var i = 0; i < b.length; i++) if (b[i].checked) out[b[i].value] = true;
    return out;
  }
  function apply() {
    var st = picked("status"), oc = picked("outcome"), er = picked("error");
    var ca = picked("category"), sp = picked("split"), cl = picked("catalog");
    var gr = group ? group.value : "";
    var text = q ? q.value.trim().toLowerCase() : "";
    var n = 0;
    for (var i = 0; i < total; i++) {
      var el = items[i], d = el.dataset;
      var ok = (!st || st[d.status] === true) && (!ca || ca[d.category] === true) &&
        (!sp || sp[d.split] === true) && (!cl || cl[d.catalog] === true) &&
        (!oc || oc[d.outcome || "correct"] === true) &&
        (!er || !d.error || er[d.error] === true) && (!gr || d.group === gr);
      if (ok && text) {
        if (el.rcText === undefined) el.rcText = el.textContent.toLowerCase();
        ok = el.rcText.indexOf(text) !== -1;
      }
      if (el.hidden === ok) el.hidden = !ok;
      if (ok) n++;
    }
    showCount(n);
  }
  function showCount(n) {
    shown.textContent =
      "showing " + n.toLocaleString("en-US") + " of " + total.toLocaleString("en-US");
    if (empty) empty.hidden = n > 0;
  }

  function sortKey(el, by) {
    var d = el.dataset;
    if (by === "id") {
      if (el.rcKey === undefined) el.rcKey = d.key || el.querySelector(".key").textContent;
      return el.rcKey;
    }
    if (by === "category") return d.category;
    if (by === "outcome") return String(OUTCOMES.indexOf(d.outcome || "correct"));
    return "";
  }
  function reorder() {
    var by = sort ? sort.value : "";
    var ordered = items.slice();
    if (by) {
      ordered.sort(function (a, b) {
        var ka = sortKey(a, by), kb = sortKey(b, by);
        if (ka !== kb) return ka < kb ? -1 : 1;
        return a.rcIndex - b.rcIndex;
      });
    }
    var frag = document.createDocumentFragment();
    for (var i = 0; i < ordered.length; i++) frag.appendChild(ordered[i]);
    list.appendChild(frag);
  }

  // The filter state lives in the URL hash (#outcome=missed_call&sort=id), so a view can be
  // bookmarked or sent; only what differs from the default view is written.
  function state() {
    var parts = [];
    for (var i = 0; i < NAMES.length; i++) {
      var b = boxes(NAMES[i]), on = [], changed = false;
      for (var j = 0; j < b.length; j++) {
        if (b[j].checked) on.push(b[j].value);
        if (b[j].checked !== b[j].defaultChecked) changed = true;
      }
      if (changed) parts.push(NAMES[i] + "=" + on.map(encodeURIComponent).join(","));
    }
    if (group && group.value) parts.push("group=" + encodeURIComponent(group.value));
    if (sort && sort.value) parts.push("sort=" + encodeURIComponent(sort.value));
    if (q && q.value) parts.push("q=" + encodeURIComponent(q.value));
    return parts.join("&");
  }
  function save() {
    var s = state();
    if (s === (location.hash.slice(1) || "")) return;
    var url = location.href.split("#")[0] + (s ? "#" + s : "#cases");
    try {
      history.replaceState(null, "", url);
    } catch (e) {
      // Some browsers refuse replaceState for file:// pages; the view still works.
    }
  }
  function restore(hash) {
    var params = Object.create(null);
    hash.split("&").forEach(function (kv) {
      var at = kv.indexOf("=");
      if (at > 0) params[kv.slice(0, at)] = kv.slice(at + 1);
    });
    for (var i = 0; i < NAMES.length; i++) {
      var b = boxes(NAMES[i]), v = params[NAMES[i]];
      var on = Object.create(null);
      if (v !== undefined) v.split(",").forEach(function (x) { on[decodeURIComponent(x)] = 1; });
      for (var j = 0; j < b.length; j++) {
        b[j].checked = v === undefined ? b[j].defaultChecked : on[b[j].value] === 1;
      }
    }
    if (group) group.value = params.group ? decodeURIComponent(params.group) : "";
    if (sort) sort.value = params.sort ? decodeURIComponent(params.sort) : "";
    if (q) q.value = params.q ? decodeURIComponent(params.q) : "";
  }
  function changed() {
    apply();
    save();
  }
  form.addEventListener("change", function (e) {
    if (e.target === sort) reorder();
    changed();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  if (q) q.addEventListener("input", changed);

  // Outcome segments, legend entries, error chips and "list only these" set the filters.
  function setOnly(name, value) {
    var b = boxes(name);
    for (var i = 0; i < b.length; i++) b[i].checked = value === null || b[i].value === value;
  }
  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("[data-pick]") : null;
    if (t) {
      var kind = t.dataset.pick, value = t.dataset.value;
      setOnly("status", null);
      setOnly("error", null);
      if (group) group.value = "";
      if (q) q.value = "";
      if (kind === "status") {
        setOnly("status", value);
        setOnly("outcome", null);
      } else if (kind === "outcome") setOnly("outcome", value);
      else if (kind === "error") {
        setOnly("outcome", "invalid");
        setOnly("error", value);
      } else if (kind === "group" && group) {
        setOnly("outcome", null);
        group.value = value;
      }
      changed();
      document.getElementById("cases").scrollIntoView();
      return;
    }
    var row = e.target.closest ? e.target.closest(".case.row") : null;
    if (row && row.parentNode === list) row.classList.toggle("open");
  });
  list.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.classList.contains("row")) {
      e.target.classList.toggle("open");
    }
  });

  function fromHash() {
    var h = location.hash.slice(1);
    if (h.indexOf("=") !== -1) {
      restore(h);
      reorder();
      apply();
      return;
    }
    var el = h ? document.getElementById(h) : null;
    if (el && el.parentNode === list && el.hidden) {
      el.hidden = false;  // a link to a case the filters hide shows it, and the count says so
      showCount(items.filter(function (it) { return !it.hidden; }).length);
      el.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();

// The subscribers page's bulk form: a box that ticks every row on the page, and a count of
// what is chosen. The form works without this file (tick rows, or "Select all matching").
(function () {
  var form = document.getElementById("bulk");
  if (!form) return;
  var page = document.getElementById("select-page");
  var all = document.getElementById("all-matching");
  var count = document.getElementById("chosen-count");
  var rows = form.querySelectorAll("input[name=ids]");
  function show() {
    var ticked = 0;
    rows.forEach(function (box) { if (box.checked) ticked += 1; });
    page.checked = rows.length > 0 && ticked === rows.length;
    page.indeterminate = ticked > 0 && ticked < rows.length;
    count.textContent = all.checked ? "everyone matching the filter is chosen"
                                    : ticked + " chosen on this page";
  }
  page.hidden = false;
  count.hidden = false;
  page.addEventListener("change", function () {
    rows.forEach(function (box) { box.checked = page.checked; });
    if (!page.checked) all.checked = false;
    show();
  });
  all.addEventListener("change", function () {
    if (all.checked) rows.forEach(function (box) { box.checked = true; });
    show();
  });
  rows.forEach(function (box) {
    box.addEventListener("change", function () {
      if (!box.checked) all.checked = false;
      show();
    });
  });
  show();
})();

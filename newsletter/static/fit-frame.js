// Sizes each iframe marked data-fit to the height of the mail inside it (same origin, no script
// runs inside), so the mail is read in one scroll, not in a small box with its own scrollbar.
// The frame is shrunk before measuring: a document (in quirks mode, its body too) is never
// shorter than its frame.
document.querySelectorAll("iframe[data-fit]").forEach(function (frame) {
  function fit() {
    var doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    frame.style.height = "1px";
    var root = doc.scrollingElement || doc.documentElement;
    frame.style.height = Math.min(Math.max(root.scrollHeight + 4, 80), 20000) + "px";
  }
  frame.addEventListener("load", fit);
  if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit();
});

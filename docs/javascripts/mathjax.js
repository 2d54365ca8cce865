// MathJax 3 set-up for pymdownx.arithmatex (generic mode), as the pymdown-extensions docs give it:
// arithmatex wraps each formula in a span/div of class "arithmatex" with \( \) or \[ \] delimiters,
// and MathJax typesets only those elements. The MathJax bundle itself is vendored beside this file
// (javascripts/mathjax/, see SOURCE.txt there), so the site renders math without a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// Material's instant navigation swaps the page without reloading it: typeset the new page again.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}

/*
 * The menu button opens the table of contents again (and the "On this page"
 * button the page's contents), on phones as on wide screens.
 *
 * The cause, in the installed themes: pydata-sphinx-theme 0.17 puts its own
 * menu button (.primary-toggle, likewise .secondary-toggle) in the top navbar,
 * and sphinx-book-theme 1.3 hides it and shows its own button of the same
 * class in the article header. Both themes' scripts bind only
 * document.querySelector(".primary-toggle"): the first, hidden button. The
 * button a reader sees has no click handler and does nothing (upstream:
 * pydata-sphinx-theme issue 2451, sphinx-book-theme issues 935 and 988).
 *
 * A patch rather than a pin: no release fixes it within Jupyter Book 1.x.
 * sphinx-book-theme 1.4.0 needs Sphinx 8.2 (Jupyter Book 1.x needs Sphinx 7)
 * and still binds the first button; going back to sphinx-book-theme 1.2.0 with
 * pydata-sphinx-theme 0.16.1, the last pair without the second button, would
 * downgrade both themes for a bug that a few lines mend.
 *
 * The patch hands a click on any other toggle to the one the themes bound, so
 * that their own code runs: the drawer (a <dialog>) on narrow screens, the
 * collapsing sidebar on wide ones. Remove it once the themes bind every toggle.
 */
(function () {
  "use strict";

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.(".primary-toggle, .secondary-toggle");
    if (!button) return;
    const kind = button.classList.contains("primary-toggle") ? ".primary-toggle" : ".secondary-toggle";
    const bound = document.querySelector(kind); // the one the themes listen to
    if (!bound || bound === button) return;
    event.preventDefault();
    bound.click();
  });
})();

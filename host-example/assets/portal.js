// Demo portal behaviour (served from /static/portal.js; no inline scripts under the CSP).
// The company selector submits itself when changed.
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.hasAttribute("data-autosubmit")) {
    select.form?.submit();
  }
});

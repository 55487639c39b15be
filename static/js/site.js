// The language switch submits itself on change (the Content-Security-Policy allows no inline
// handler); without JavaScript, its button does.
document.addEventListener("change", function (event) {
  if (event.target.matches("form.language select")) {
    event.target.form.submit();
  }
});

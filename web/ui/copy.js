// Copy buttons: <button data-copy="ID"> copies the text of element ID.
document.addEventListener('click', (e) => {
  const btn = e.target.closest?.('[data-copy]');
  if (!btn) return;
  const text = document.getElementById(btn.dataset.copy)?.textContent || '';
  navigator.clipboard?.writeText(text).then(() => {
    const was = btn.textContent;
    btn.textContent = 'Copied';
    setTimeout(() => (btn.textContent = was), 1500);
  });
});

const p = new URLSearchParams(location.search);
document.getElementById('url').textContent = p.get('url') || '';
document.getElementById('detail').textContent = `${p.get('outcome') || ''}: ${p.get('detail') || ''}`;
document.body.dataset.outcome = p.get('outcome') || '';

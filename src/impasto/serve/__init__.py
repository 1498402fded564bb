"""`impasto serve`: a local web app over the Python API (a consumer of its progress events).

store.py keeps jobs in SQLite and files under the data folder; jobs.py runs them in worker threads;
app.py is the FastAPI app (REST API and the one page in static/)."""

"""`wirecheck watch`: the platform probes again and again, for intermittent faults.

A round runs the chosen probes through the runner; the round's outcomes feed streaming
statistics (`stats`, `timeline`) and the failure windows (`windows`); a change from ok to
failing, or back, triggers an evidence capture (`capture`) and a diagnosis of that moment.
Every round goes to the append-only event log (`events`) and the Prometheus textfile
(`prometheus`); at the end the summary (`summary`) and the HTML timeline (`html`) are
rendered from the in-memory record (`record`), whose size does not grow with the run.
`loop` ties them together; `rate` keeps the request rate to the platform under a hard cap.
"""

"""How a run is shown: the progress model (fed by events alone), what it reads at one instant, the console view
and the notebook panel.
"""

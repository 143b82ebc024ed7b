"""What the app shows, without widgets: maps of the space (`projection`, `map_figure`), the
index explorer's panels (`explorer`) and the Compare panel (`compare`)."""

"""Many point markers of one map layer written as one script: a list of points (JSON) and a loop that makes each
Leaflet circle or div-icon marker with its popup and tooltip.

folium's own markers are one element each, with a popup and a tooltip element of their own, and every one of them
compiles a template when the map is saved: some 1,500 compiles and ~1.2 s for the default area's facilities. The
markers, popups and tooltips drawn from this list are the same Leaflet objects with the same options.
"""

from __future__ import annotations

import json
from html import escape as esc
from typing import Any

from branca.element import MacroElement
from jinja2 import Template

__all__ = ["PointBatch"]


class PointBatch(MacroElement):
    """The markers of one layer (add it to a ``folium.FeatureGroup``); :meth:`circle` and :meth:`icon` add one."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var layer = {{ this._parent.get_name() }};
            {{ this.points_json() }}.forEach(function (p) {
                var m = p.icon
                    ? L.marker([p.lat, p.lon], {icon: L.divIcon(p.icon)})
                    : L.circleMarker([p.lat, p.lon], p.style);
                if (p.popup) { m.bindPopup(p.popup, {maxWidth: p.width}); }
                if (p.tip) { m.bindTooltip(p.tip, {sticky: true}); }
                m.addTo(layer);
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "PointBatch"
        self.points: list[dict[str, Any]] = []

    def circle(
        self,
        lat: float,
        lon: float,
        *,
        radius: float,
        color: str,
        weight: float,
        fill_color: str,
        fill_opacity: float,
        dash_array: str | None = None,
        popup: str = "",
        width: int = 300,
        tip: str = "",
    ) -> None:
        """A circle marker (``L.circleMarker``), its popup (HTML) and tooltip (plain text, escaped here)."""
        style = {
            "radius": radius,
            "color": color,
            "weight": weight,
            "fill": True,
            "fillColor": fill_color,
            "fillOpacity": fill_opacity,
            "dashArray": dash_array,
        }
        self.points.append({"lat": lat, "lon": lon, "style": style, "popup": popup, "width": width, "tip": esc(tip)})

    def icon(
        self,
        lat: float,
        lon: float,
        *,
        html: str,
        size: tuple[int, int],
        anchor: tuple[int, int],
        popup: str = "",
        width: int = 300,
        tip: str = "",
    ) -> None:
        """A marker drawn by its own HTML (``L.divIcon``, without Leaflet's white box), its popup and tooltip."""
        icon = {"html": html, "iconSize": list(size), "iconAnchor": list(anchor), "className": "empty"}
        self.points.append({"lat": lat, "lon": lon, "icon": icon, "popup": popup, "width": width, "tip": esc(tip)})

    def points_json(self) -> str:
        """The points as a JavaScript literal, safe inside ``<script>`` (no ``</`` left to end it)."""
        return json.dumps(self.points, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")

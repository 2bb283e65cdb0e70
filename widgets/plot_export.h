// Saving a QPainter-drawn plot as a picture: PNG (rendered into an image at a scale, 2x by
// default so it stays sharp on a slide) or SVG (the same painting recorded as vectors by
// QSvgGenerator). The plot paints through a callback, so what is saved is what it draws on
// screen, minus whatever the callback leaves out (hover marks).
#pragma once

#include <QImage>
#include <QSize>
#include <QString>

#include <functional>

class QPainter;

namespace tb::widgets {

using PlotPainter = std::function<void(QPainter&)>;

// `paint` draws a plot of `size` logical pixels; the image has size x scale physical pixels.
QImage renderPlot(QSize size, double scale, const PlotPainter& paint);
bool savePlotPng(const QString& path, QSize size, double scale, const PlotPainter& paint);
bool savePlotSvg(const QString& path, QSize size, const QString& title, const PlotPainter& paint);

}  // namespace tb::widgets

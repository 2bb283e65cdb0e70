#include "widgets/plot_export.h"

#include <QPainter>
#include <QSvgGenerator>

namespace tb::widgets {

QImage renderPlot(QSize size, double scale, const PlotPainter& paint) {
  QImage image((QSizeF(size) * scale).toSize(), QImage::Format_ARGB32_Premultiplied);
  image.setDevicePixelRatio(scale);
  image.fill(Qt::white);
  QPainter painter(&image);
  paint(painter);
  return image;
}

bool savePlotPng(const QString& path, QSize size, double scale, const PlotPainter& paint) {
  return renderPlot(size, scale, paint).save(path, "PNG");
}

bool savePlotSvg(const QString& path, QSize size, const QString& title, const PlotPainter& paint) {
  QSvgGenerator svg;
  svg.setFileName(path);
  svg.setSize(size);
  svg.setViewBox(QRect(QPoint(0, 0), size));
  svg.setTitle(title);
  svg.setDescription(QStringLiteral("Trainbench"));
  QPainter painter;
  if (!painter.begin(&svg)) return false;
  paint(painter);
  return painter.end();
}

}  // namespace tb::widgets

// MainWindow's Sessions and Compare tabs: the browser, the compare view, and the loads between.
#include <QLabel>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "app/gui/main_window.h"
#include "widgets/compare_view.h"
#include "widgets/session_browser.h"

namespace tb::app {

void MainWindow::buildSessionTabs() {
  sessionBrowser_ = new widgets::SessionBrowser;
  sessionBrowser_->openDatabase(dbPath_);
  tabs_->addTab(sessionBrowser_, tr("Sessions"));
  tabs_->setTabToolTip(tabs_->indexOf(sessionBrowser_),
                       tr("Every stored session: filter, tag, annotate, delete, and pick 2 to 20 "
                          "to compare (Ctrl+5)"));
  connect(sessionBrowser_, &widgets::SessionBrowser::compareRequested, this,
          &MainWindow::compareSessions);
  connect(sessionBrowser_, &widgets::SessionBrowser::sessionActivated, this, [this](qint64 id) {
    showSession(store::SessionId(id));
    showTraining();
  });
  // Renamed, tagged or deleted there: the Train tab's list follows.
  connect(sessionBrowser_, &widgets::SessionBrowser::sessionsChanged, this,
          &MainWindow::refreshSessions);

  auto* comparePage = new QWidget;
  auto* layout = new QVBoxLayout(comparePage);
  layout->setContentsMargins(8, 8, 8, 4);
  compareTitle_ = new QLabel(tr("Select 2 to 20 sessions in the Sessions tab and press Compare."));
  compareView_ = new widgets::CompareView;
  layout->addWidget(compareTitle_);
  layout->addWidget(compareView_, 1);
  tabs_->addTab(comparePage, tr("Compare"));
  tabs_->setTabToolTip(tabs_->indexOf(comparePage),
                       tr("Sessions side by side: settings, curves, outcomes, profiles (Ctrl+6)"));

  compareLoader_ = new CompareController(dbPath_, this);
  connect(compareLoader_, &CompareController::loaded, this, &MainWindow::onCompareLoaded);
  connect(compareLoader_, &CompareController::tracesLoaded, this,
          [this](quint64 generation, CompareTraces traces) {
            if (generation != compareLoader_->generation()) return;
            compareView_->setTraces(std::move(*traces));
          });
  connect(compareLoader_, &CompareController::metricLoaded, this,
          [this](quint64 generation, const QString& key, CompareSeries series) {
            if (generation != compareLoader_->generation()) return;
            compareView_->addMetric(key.toStdString(), std::move(*series));
          });
  connect(compareLoader_, &CompareController::failed, this,
          [this](quint64 generation, const QString& message) {
            if (generation != compareLoader_->generation()) return;
            compareTitle_->setText(tr("Cannot compare: %1").arg(message));
          });
  connect(compareView_, &widgets::CompareView::metricRequested, compareLoader_,
          &CompareController::loadMetric);
}

void MainWindow::showSessions() {
  tabs_->setCurrentWidget(sessionBrowser_);
}

void MainWindow::showCompare() {
  tabs_->setCurrentWidget(compareView_->parentWidget());
}

void MainWindow::compareSessions(const QList<qint64>& sessionIds) {
  if (sessionIds.size() < 2) return;
  compareTitle_->setText(tr("Loading %1 sessions…").arg(sessionIds.size()));
  compareLoader_->load(sessionIds.mid(0, widgets::CompareView::kMaxSessions));
  showCompare();
}

void MainWindow::onCompareLoaded(quint64 generation, CompareSessions sessions,
                                 const QStringList& metrics) {
  if (generation != compareLoader_->generation()) return;  // replaced by a newer comparison
  QStringList ids;
  for (const auto& session : *sessions) ids << QStringLiteral("#%1").arg(session.record.id.value);
  compareTitle_->setText(
      tr("Comparing %1 sessions: %2").arg(sessions->size()).arg(ids.join(QStringLiteral(", "))));
  compareView_->setSessions(std::move(*sessions));
  std::vector<std::string> keys;
  for (const QString& key : metrics) keys.push_back(key.toStdString());
  compareView_->setAvailableMetrics(keys);
}

}  // namespace tb::app

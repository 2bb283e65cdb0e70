#include "app/gui/gui_main.h"

#include <QApplication>
#include <QCoreApplication>
#include <QDir>
#include <QStatusBar>
#include <QString>

#include <system_error>

#include "app/gui/main_window.h"
#include "core/run/project.h"
#include "core/store/session_store.h"
#include "widgets/project_editor.h"

namespace tb::app {

namespace {

// The example project, found by walking up from the working folder and from the executable's
// folder (a build tree sits inside the source tree), so `trainbench` opens something runnable
// without the build baking in a source path.
std::filesystem::path findDefaultProject() {
  const std::filesystem::path relative = std::filesystem::path("projects") / "fashion_mlp.json";
  std::error_code ec;
  for (std::filesystem::path start :
       {std::filesystem::current_path(ec),
        std::filesystem::path(QCoreApplication::applicationDirPath().toStdString())}) {
    for (auto dir = start; !dir.empty(); dir = dir.parent_path()) {
      if (std::filesystem::is_regular_file(dir / relative, ec)) return dir / relative;
      if (dir == dir.parent_path()) break;
    }
  }
  return {};
}

}  // namespace

int run_gui(int& argc, char** argv, const GuiOptions& options) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("Trainbench"));
  QApplication::setOrganizationName(QStringLiteral("Trainbench"));
  RunController::registerMetaTypes();

  const std::filesystem::path db =
      options.db_path.empty() ? store::SessionStore::default_path() : options.db_path;
  MainWindow window(db);

  bool opened = false;
  if (!options.project_file.empty()) {
    opened = window.openProject(QString::fromStdString(options.project_file.string()));
  } else if (const auto example = findDefaultProject(); !example.empty()) {
    opened = window.openProject(QString::fromStdString(example.string()));
  }
  if (!opened) {
    // A project the engine itself declares valid: every default, written out.
    window.editor()->setProject(run::Project{});
    if (!options.project_file.empty()) {
      window.statusBar()->showMessage(
          QObject::tr("Cannot read %1; showing the default project instead")
              .arg(QString::fromStdString(options.project_file.string())),
          15000);
    }
  }
  window.show();
  return QApplication::exec();
}

}  // namespace tb::app

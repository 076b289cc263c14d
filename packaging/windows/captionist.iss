; Inno Setup 6 script for Captionist's Windows installer. build.ps1 compiles it after PyInstaller:
;
;   ISCC.exe /DAppVersion=0.1.0 /DSourceDir=dist\windows\Captionist /DRepoDir=. /DOutputDir=dist\windows
;            packaging\windows\captionist.iss
;
; SourceDir is PyInstaller's onedir folder (Captionist.exe, captionist-cli.exe, _internal\); the installer copies it
; whole into {autopf}\Captionist: Program Files for everyone (administrator), or
; %LOCALAPPDATA%\Programs\Captionist for the current user only (no administrator), chosen on the first page.
; It has not been compiled or run yet: see README.md.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z (build.ps1 reads it from the frozen captionist-cli.exe --version)
#endif
#ifndef SourceDir
  #error Pass PyInstaller's output folder: ISCC /DSourceDir=...\Captionist
#endif
#ifndef RepoDir
  #define RepoDir AddBackslash(SourcePath) + "..\.."
#endif
#ifndef OutputDir
  #define OutputDir AddBackslash(SourcePath) + "..\..\dist\windows"
#endif
#define AppName "Captionist"
#define AppExe "Captionist.exe"
#define AppIcon "org.captionist.Captionist.ico"

[Setup]
; The installer's identity for upgrades and the uninstaller: never change it. ({{ is a literal "{".)
AppId={{0B6BEC52-A67A-4558-A5E6-F53121B04528}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
AppComments=Live captions, meeting transcripts and questions about recordings, all on your own machine.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user by default (no administrator needed); the first page offers "Install for all users" (administrator),
; and /ALLUSERS or /CURRENTUSER choose on the command line.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog commandline
; torch and Qt ship 64-bit x86 builds for Windows; PySide6 6.7+ needs Windows 10 or later.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#OutputDir}
OutputBaseFilename=Captionist-{#AppVersion}-setup
SetupIconFile={#RepoDir}\resources\icons\{#AppIcon}
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
; The program is about 0.8 GB (torch alone 0.6 GB). LZMA2 in a separate process keeps the compiler's memory in check;
; solid compression makes the installer smaller for the many small files of _internal\.
Compression=lzma2
SolidCompression=yes
LZMAUseSeparateProcess=yes
WizardStyle=modern
; Files in use by a running Captionist are closed through the Restart Manager before they are replaced or removed.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole PyInstaller folder: files of an older version's libraries must not stay beside the new.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#RepoDir}\resources\icons\{#AppIcon}"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
; {autoprograms}: the Start menu of the current user, or of all users in an administrator install.
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\{#AppIcon}"; Comment: "Live captions"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\{#AppIcon}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The uninstaller removes everything it installed ({app}, the shortcuts, its registry entry). The person's settings,
; recordings and downloaded models live in their own folders (%LOCALAPPDATA%\Captionist and the Hugging Face cache;
; Help -> About shows where) and are kept, as uninstallers usually do.

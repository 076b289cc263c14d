<#
.SYNOPSIS
Builds Captionist for Windows: a PyInstaller onedir folder from packaging\pyinstaller\captionist.spec, then an
Inno Setup installer from captionist.iss. See README.md beside this script; it has not been run on Windows yet.

.DESCRIPTION
1. A fresh virtual environment (or -Venv, kept and reused) gets torch 2.13.0's CPU build first, so that installing
   the project (torch>=2.5) never pulls another build; then the project's wheel, built from a clean copy of the
   repository (not an editable install: PyInstaller must freeze the installed package); then PyInstaller.
2. PyInstaller runs the same spec as Linux and macOS: dist\windows\Captionist\ with Captionist.exe (the window,
   no console) and captionist-cli.exe (the command line: --version, transcribe, stream).
3. Inno Setup's compiler (ISCC.exe) makes dist\windows\Captionist-VERSION-setup.exe from captionist.iss.

.PARAMETER Out
Where the build and the installer go (default: dist\windows in the repository).

.PARAMETER Venv
A build environment to create when missing and keep (default: a temporary one, removed at the end).

.PARAMETER Python
The python.exe to build with, 3.10 or newer, 64-bit (default: Python 3.11 through the Python launcher, py -3.11;
without the launcher, python on the PATH). The bundle carries that Python.

.PARAMETER Iscc
The path of ISCC.exe (default: found on the PATH or in Inno Setup 6's usual install folders).

.PARAMETER SkipInstaller
Stop after PyInstaller (no Inno Setup needed).

.EXAMPLE
powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
#>
[CmdletBinding()]
param(
    [string]$Out = "",
    [string]$Venv = "",
    [string]$Python = "",
    [string]$Iscc = "",
    [switch]$SkipInstaller
)

Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue"  # Invoke-WebRequest-style progress bars slow PowerShell 5 down

$TorchVersion = "2.13.0"
# Pinned so that a build is repeatable (the same as packaging/pyinstaller/build.sh).
$PyInstaller = "pyinstaller==6.22.3"
$Hooks = "pyinstaller-hooks-contrib==2026.9"
$Repo = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
$Spec = Join-Path $Repo "packaging\pyinstaller\captionist.spec"
$Iss = Join-Path $PSScriptRoot "captionist.iss"

function Say([string]$Message) { Write-Host "build.ps1: $Message" }

# A native program's failure is not an error to PowerShell 5 ($ErrorActionPreference does not apply): check each.
# A plain function (no param block), so that arguments such as -m and -q reach the program instead of being taken
# for PowerShell parameters. Its stderr is never redirected: Windows PowerShell 5.1 turns redirected stderr lines
# (pip's warnings) into errors, which "Stop" would throw.
function Invoke-Native {
    $Exe = $args[0]
    $Rest = @($args | Select-Object -Skip 1)
    & $Exe @Rest
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Rest -join ' ') failed (exit status $LASTEXITCODE)" }
}

# --- The Python to build with ---------------------------------------------------------------------------------
if ($Python) {
    $PythonCmd = @($Python)
} elseif (Get-Command py -ErrorAction SilentlyContinue) {
    $PythonCmd = @("py", "-3.11")
} else {
    $PythonCmd = @("python")
}
$PythonExe = $PythonCmd[0]
$PythonArgs = @($PythonCmd | Select-Object -Skip 1)
$Check = "import struct, sys; sys.exit(0 if sys.version_info >= (3, 10) and struct.calcsize('P') == 8 else 1)"
& $PythonExe @PythonArgs -c $Check
if ($LASTEXITCODE -ne 0) { throw "$($PythonCmd -join ' ') is not a 64-bit Python 3.10 or newer (use -Python)" }

if (-not $Out) { $Out = Join-Path $Repo "dist\windows" }
New-Item -ItemType Directory -Force -Path $Out | Out-Null
$Out = (Resolve-Path $Out).Path
$Work = Join-Path ([System.IO.Path]::GetTempPath()) ("captionist-pyi-" + [System.Guid]::NewGuid().ToString("N"))
New-Item -ItemType Directory -Path $Work | Out-Null
$KeepVenv = [bool]$Venv
if (-not $Venv) { $Venv = Join-Path $Work "venv" }
$Started = Get-Date

try {
    # --- A clean copy of the sources --------------------------------------------------------------------------
    # Only what git tracks or would track (no .venv, caches or earlier builds), so the wheel is built from the copy
    # and nothing is written into the repository but $Out.
    $Src = Join-Path $Work "src"
    New-Item -ItemType Directory -Path $Src | Out-Null
    $Files = $null
    if (Get-Command git -ErrorAction SilentlyContinue) {
        $Files = & git -C $Repo ls-files --cached --others --exclude-standard
        if ($LASTEXITCODE -ne 0) { $Files = $null }
    }
    if ($Files) {
        foreach ($File in $Files) {
            $From = Join-Path $Repo $File
            if (-not (Test-Path -LiteralPath $From -PathType Leaf)) { continue }  # deleted, not yet from the index
            $To = Join-Path $Src $File
            New-Item -ItemType Directory -Force -Path (Split-Path $To) | Out-Null
            Copy-Item -LiteralPath $From -Destination $To
        }
    } else {
        $Skip = @(".venv", ".git", "dist", "build", "__pycache__")
        Get-ChildItem -LiteralPath $Repo -Force |
            Where-Object { $Skip -notcontains $_.Name -and $_.Name -notlike "*.egg-info" } |
            Copy-Item -Destination $Src -Recurse
    }

    # --- The build environment ----------------------------------------------------------------------------------
    $Py = Join-Path $Venv "Scripts\python.exe"
    if (Test-Path $Py) {
        Say "reusing the build environment $Venv"
    } else {
        Say "creating the build environment $Venv with $($PythonCmd -join ' ')"
        Invoke-Native $PythonExe @PythonArgs -m venv $Venv
    }
    Invoke-Native $Py -m pip install -q --upgrade pip

    # torch first. The CPU build carries the local version label +cpu: from pip's configured indexes when they
    # have it, else from PyTorch's CPU index (PyPI's Windows wheels are CPU builds too, but without the label).
    Say "installing torch==$TorchVersion+cpu"
    & $Py -m pip install -q "torch==$TorchVersion+cpu"
    if ($LASTEXITCODE -ne 0) {
        Say "not in pip's configured indexes; trying https://download.pytorch.org/whl/cpu"
        Invoke-Native $Py -m pip install -q --extra-index-url https://download.pytorch.org/whl/cpu `
            "torch==$TorchVersion+cpu"
    }
    $TorchSeen = (& $Py -B -W ignore -c "import torch; print(torch.__version__, torch.version.cuda or '')").Trim()
    if ($TorchSeen -notlike "$TorchVersion*" -or $TorchSeen.Contains(" ")) {
        throw "expected torch $TorchVersion without CUDA in $Venv, found: $TorchSeen"
    }
    Say "torch $TorchSeen (CPU build)"

    Say "building the project's wheel"
    $WheelDir = Join-Path $Work "wheel"
    Invoke-Native $Py -m pip wheel -q --no-deps -w $WheelDir $Src
    $Wheel = @(Get-ChildItem -Path $WheelDir -Filter "captionist-*.whl")
    if ($Wheel.Count -ne 1) { throw "expected one wheel in $WheelDir, found $($Wheel.Count)" }
    $Wheel = $Wheel[0].FullName
    Say "installing $(Split-Path -Leaf $Wheel), its dependencies, $PyInstaller and $Hooks"
    Invoke-Native $Py -m pip install -q $Wheel $PyInstaller $Hooks
    # A reused environment may hold an earlier build of the same version, which pip would keep: replace it.
    Invoke-Native $Py -m pip install -q --no-deps --force-reinstall $Wheel
    Invoke-Native $Py -m pip check
    $TorchAfter = (& $Py -B -W ignore -c "import torch; print(torch.__version__, torch.version.cuda or '')").Trim()
    if ($TorchAfter -ne $TorchSeen) { throw "installing the project replaced torch $TorchSeen with $TorchAfter" }

    # --- PyInstaller ----------------------------------------------------------------------------------------------
    # From the work folder and without PYTHONPATH, so that the spec and the analysis see the installed project.
    Say "running PyInstaller on captionist.spec into $Out"
    $env:PYTHONPATH = $null
    $env:PYTHONNOUSERSITE = "1"
    Push-Location $Work
    try {
        Invoke-Native $Py -m PyInstaller --noconfirm --clean --log-level WARN --distpath $Out `
            --workpath (Join-Path $Work "pyinstaller") $Spec
    } finally {
        Pop-Location
    }
    $App = Join-Path $Out "Captionist"
    foreach ($Exe in @("Captionist.exe", "captionist-cli.exe")) {
        if (-not (Test-Path (Join-Path $App $Exe))) { throw "PyInstaller did not make $App\$Exe" }
    }
    # The console executable answers on stdout; the windowed one would print nothing.
    $VersionLine = (& (Join-Path $App "captionist-cli.exe") --version | Out-String).Trim()
    if ($LASTEXITCODE -ne 0 -or $VersionLine -notmatch '^captionist (\S+)$') {
        throw "captionist-cli.exe --version printed '$VersionLine'"
    }
    $Version = $Matches[1]
    if ($Version -eq "unknown") { throw "the frozen program does not know its version (metadata not bundled?)" }
    $Size = (Get-ChildItem -LiteralPath $App -Recurse -File | Measure-Object -Property Length -Sum).Sum
    Say ("{0}: {1} ({2:N0} MiB)" -f $App, $VersionLine, ($Size / 1MB))

    # --- Inno Setup -----------------------------------------------------------------------------------------------
    if ($SkipInstaller) {
        Say "-SkipInstaller: no installer made"
        Write-Output $App
        return
    }
    if (-not $Iscc) {
        $Found = Get-Command ISCC.exe -ErrorAction SilentlyContinue
        $Candidates = @()
        if ($Found) { $Candidates += $Found.Source }
        # Inno Setup 6 installs for all users under Program Files (x86), or per user under LocalAppData (winget
        # install --scope user).
        if (${env:ProgramFiles(x86)}) { $Candidates += Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe" }
        $Candidates += Join-Path $env:ProgramFiles "Inno Setup 6\ISCC.exe"
        $Candidates += Join-Path $env:LOCALAPPDATA "Programs\Inno Setup 6\ISCC.exe"
        $Iscc = $Candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $Iscc) {
            throw "ISCC.exe (Inno Setup 6) not found: install it (winget install JRSoftware.InnoSetup) or pass -Iscc"
        }
    }
    Say "making the installer with $Iscc"
    Invoke-Native $Iscc /Qp "/DAppVersion=$Version" "/DSourceDir=$App" "/DRepoDir=$Repo" "/DOutputDir=$Out" $Iss
    $Setup = Join-Path $Out "Captionist-$Version-setup.exe"
    if (-not (Test-Path $Setup)) { throw "ISCC did not make $Setup" }
    $Seconds = ((Get-Date) - $Started).TotalSeconds
    Say ("done in {0:N0} s: {1} ({2:N0} MiB)" -f $Seconds, $Setup, ((Get-Item $Setup).Length / 1MB))
    Write-Output $Setup
} finally {
    if ($KeepVenv) { Say "the build environment stays in $Venv (-Venv)" }
    Remove-Item -LiteralPath $Work -Recurse -Force -ErrorAction SilentlyContinue
}

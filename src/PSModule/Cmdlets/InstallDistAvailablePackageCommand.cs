using System.Management.Automation;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Install-DistAvailablePackage: on a managed computer, installs a package offered to its user (a user-choice job), through
/// the agent running on the computer, which downloads it, checks its signatures, hashes and install conditions, installs it
/// and reports the result to the manager. Waits for the outcome and writes it; an install that fails is a non-terminating
/// error carrying the outcome (with the install command's exit code) as its target.
/// </summary>
[Cmdlet(VerbsLifecycle.Install, "DistAvailablePackage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(UserInstallOutcome))]
public sealed class InstallDistAvailablePackageCommand : AvailablePackageCmdlet
{
    /// <summary>The name of an available package; from the pipeline, Get-DistAvailablePackage's objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageName")]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The version to install when several are offered (default: the newest offered).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Version { get; set; }

    protected override void ProcessRecord()
    {
        if (WildcardPattern.ContainsWildcardCharacters(Name))
        {
            WriteError(new ErrorRecord(new ArgumentException($"'{Name}' is a pattern; Install-DistAvailablePackage installs one package by its exact name "
                    + "(pipe Get-DistAvailablePackage '{Name}' into it to install each match)."), "AvailablePackageNamePattern", ErrorCategory.InvalidArgument, Name));
            return;
        }
        var what = Version is null ? $"package '{Name}'" : $"package '{Name}' {Version}";
        if (!ShouldProcess(what + " on this computer", "Install"))
        {
            return;
        }
        WriteProgress(new ProgressRecord(1, "Install-DistAvailablePackage", $"The agent is downloading and installing {what}"));
        var answer = Ask(new LocalRequest(LocalChannelOps.Install, Name, Version));
        WriteProgress(new ProgressRecord(1, "Install-DistAvailablePackage", "Done") { RecordType = ProgressRecordType.Completed });
        if (answer.Refusal is not null)
        {
            // Nothing by that name (or a request the agent could not take): nothing was run.
            WriteError(new ErrorRecord(new ItemNotFoundException(answer.Refusal), "AvailablePackageNotFound", ErrorCategory.ObjectNotFound, Name));
            return;
        }
        if (answer.Error is not null || answer.Outcome is null)
        {
            WriteError(new ErrorRecord(new InvalidOperationException($"The install of {what} did not run: {answer.Error ?? "the agent gave no outcome."}"),
                "UserInstallNotRun", ErrorCategory.InvalidOperation, Name));
            return;
        }
        var outcome = answer.Outcome;
        if (!outcome.Succeeded)
        {
            var code = outcome.ExitCode is { } exit ? $" (exit code {exit})" : "";
            WriteError(new ErrorRecord(new InvalidOperationException($"{outcome.Name} {outcome.Version}: {outcome.Status}{code}. {outcome.Message}".TrimEnd()),
                "UserInstallFailed", ErrorCategory.InvalidResult, outcome));
            return;
        }
        if (outcome.RestartRequired)
        {
            WriteWarning($"{outcome.Name} {outcome.Version} is installed; the computer must restart to finish it.");
        }
        WriteObject(outcome);
    }
}

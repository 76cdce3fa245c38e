using System.Management.Automation;
using JP1Dist.Engine.Domain;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistJob: lists saved jobs, filtered by name (wildcards).</summary>
[Cmdlet(VerbsCommon.Get, "DistJob")]
[OutputType(typeof(DistJob))]
public sealed class GetDistJobCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var jobs = Run(token => Engine.Jobs.ListAsync(Name, token));
        if (jobs.Count == 0 && Name is not null && !WildcardPattern.ContainsWildcardCharacters(Name))
        {
            WriteError(new ErrorRecord(new ItemNotFoundException($"No job named '{Name}' exists."), "JobNotFound", ErrorCategory.ObjectNotFound, Name));
        }
        WriteObject(jobs, enumerateCollection: true);
    }
}

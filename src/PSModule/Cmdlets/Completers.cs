using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Tab completion from the names the session's services know; a failure completes nothing rather than disturbing the prompt.</summary>
public abstract class NameCompleter : IArgumentCompleter
{
    protected abstract IEnumerable<string> Names(IDistServices services);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        IEnumerable<string> names;
        try
        {
            names = Names(DistSession.Services).ToList();
        }
        catch (Exception)
        {
            return [];
        }
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        return names.Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(n => new CompletionResult(n.Contains(' ', StringComparison.Ordinal) ? $"'{n}'" : n, n, CompletionResultType.ParameterValue, n));
    }
}

/// <summary>Completes package names.</summary>
public sealed class PackageNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.Packages.ListAsync().GetAwaiter().GetResult().Select(p => p.Name);
}

/// <summary>Completes job names.</summary>
public sealed class JobNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.Jobs.ListAsync().GetAwaiter().GetResult().Select(j => j.Name);
}

/// <summary>Completes host names.</summary>
public sealed class HostNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.Hosts.ListAsync(new HostQuery()).GetAwaiter().GetResult().Select(h => h.Name);
}

/// <summary>Completes host group names.</summary>
public sealed class HostGroupNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.HostGroups.ListAsync().GetAwaiter().GetResult().Select(g => g.Name);
}

/// <summary>Completes ID group names.</summary>
public sealed class IdGroupNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.IdGroups.ListAsync().GetAwaiter().GetResult().Select(g => g.Name);
}

/// <summary>Completes access key names.</summary>
public sealed class AccessKeyNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => services.AccessKeys.ListAsync().GetAwaiter().GetResult().Select(k => k.Name);
}

/// <summary>Completes operation names, as the audit log and the role table name them.</summary>
public sealed class OperationCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(IDistServices services) => DistOperations.RequiredRoles.Keys.Order(StringComparer.OrdinalIgnoreCase);
}

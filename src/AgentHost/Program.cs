using System.CommandLine;
using JP1Dist.Agent;
using JP1Dist.AgentHost;

// The install wrapper the agent starts around each install command: internal, so not among the commands users see.
if (args is [InstallWrapper.CommandName, .. var wrapped])
{
    return await InstallWrapper.RunAsync(wrapped, Console.Out, Console.Error);
}
var parsed = Commands.Build().Parse(args);
var exitCode = await parsed.InvokeAsync();
// An unknown, missing or unreadable option or argument is a usage error, whichever command it was for: the errors and
// the help were written; the code is the documented one, not System.CommandLine's 1 (an install failed).
return parsed.Errors.Count > 0 ? JP1Dist.Protocol.CommandExitCodes.Usage : exitCode;

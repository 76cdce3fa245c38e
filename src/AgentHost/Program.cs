using System.CommandLine;
using JP1Dist.Agent;
using JP1Dist.AgentHost;

// The install wrapper the agent starts around each install command: internal, so not among the commands users see.
if (args is [InstallWrapper.CommandName, .. var wrapped])
{
    return await InstallWrapper.RunAsync(wrapped, Console.Out, Console.Error);
}
return await Commands.Build().Parse(args).InvokeAsync();

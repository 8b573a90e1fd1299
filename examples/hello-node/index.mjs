// The smallest useful Node.js function: greets, counts warm invocations, logs.
let invocations = 0;

export const handler = async (event, context) => {
  invocations += 1;
  const name = (event && event.name) || "world";
  console.log("greeting", name);
  return {
    message: `Hello, ${name}!`,
    warm_invocations: invocations,
    function: context.functionName,
    request_id: context.awsRequestId,
    remaining_ms: context.getRemainingTimeInMillis(),
    node: process.version,
  };
};

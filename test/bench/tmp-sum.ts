import { summarize, summaryMarkdown } from './profile-summary.js';
console.log(summaryMarkdown(summarize(process.argv.slice(2))));

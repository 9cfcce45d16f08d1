export * from "./enrolment.js";
